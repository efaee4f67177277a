package ewssim

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Impersonation rights of an account (New-ManagementRoleAssignment -Role ApplicationImpersonation).
const (
	ImpersonateNone  = ""      // no role assignment
	ImpersonateAll   = "all"   // no scope: every mailbox
	ImpersonateScope = "scope" // -CustomRecipientWriteScope: the rooms in Scope
)

// Delegate rights on a room (Add-MailboxFolderPermission room:\Calendar -AccessRights Reviewer,
// Add-MailboxPermission -AccessRights FullAccess).
const (
	RightReviewer   = "Reviewer"
	RightFullAccess = "FullAccess"
)

// Account is a service account and its rights.
type Account struct {
	User     string `json:"user"` // sAMAccountName; it signs in as DOMAIN\user or user@dnsdomain
	Password string `json:"password"`
	// Impersonation is ImpersonateNone, ImpersonateAll or ImpersonateScope (Scope lists the rooms).
	Impersonation string   `json:"impersonation"`
	Scope         []string `json:"scope,omitempty"`
	// Delegate maps a room to RightReviewer or RightFullAccess.
	Delegate map[string]string `json:"delegate,omitempty"`
	// RequestsPerMinute is a request budget (0: none): beyond it, ErrorServerBusy with the
	// BackOffMilliseconds until the budget recharges.
	RequestsPerMinute int `json:"requests_per_minute,omitempty"`
}

type account struct {
	Account
	mu                sync.Mutex // guards the rate window (the rest under Server.mu)
	window            []int64    // request times (unix ms) within the last minute
	scope             map[string]bool
	inFlight, streams int
}

// PutAccount adds or replaces an account.
func (s *Server) PutAccount(a Account) error {
	user := strings.ToLower(strings.TrimSpace(a.User))
	if user == "" || strings.ContainsAny(user, `\@`) || a.Password == "" {
		return fmt.Errorf("account %q: want a bare user name (no DOMAIN\\ or @) and a password", a.User)
	}
	switch a.Impersonation {
	case ImpersonateNone, ImpersonateAll, ImpersonateScope:
	default:
		return fmt.Errorf("account %s: impersonation %q: want \"\", \"all\" or \"scope\"", a.User, a.Impersonation)
	}
	for room, right := range a.Delegate {
		if right != RightReviewer && right != RightFullAccess {
			return fmt.Errorf("account %s: delegate right %q on %s: want Reviewer or FullAccess", a.User, right, room)
		}
	}
	acc := &account{Account: a, scope: map[string]bool{}}
	acc.User = user
	acc.Delegate = map[string]string{}
	for room, right := range a.Delegate {
		acc.Delegate[strings.ToLower(room)] = right
	}
	for _, room := range a.Scope {
		acc.scope[strings.ToLower(room)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.accounts[user]; old != nil {
		acc.inFlight, acc.streams = old.inFlight, old.streams
	}
	s.accounts[user] = acc
	return nil
}

// RemoveAccount deletes an account (its connections stay authenticated, as with AD).
func (s *Server) RemoveAccount(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accounts, strings.ToLower(user))
}

// Accounts lists the accounts (passwords included: this is a test fixture's admin view).
func (s *Server) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		c := a.Account
		c.Scope = slices.Sorted(func(yield func(string) bool) {
			for r := range a.scope {
				if !yield(r) {
					return
				}
			}
		})
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// SetImpersonation changes an account's impersonation right (scope: the rooms for ImpersonateScope).
func (s *Server) SetImpersonation(user, right string, scope []string) error {
	s.mu.Lock()
	a := s.accounts[strings.ToLower(user)]
	s.mu.Unlock()
	if a == nil {
		return fmt.Errorf("account %s: %w", user, errNotFound)
	}
	c := a.Account
	c.Impersonation, c.Scope = right, scope
	return s.PutAccount(c)
}

// GrantDelegate gives an account Reviewer or FullAccess on a room; right "" revokes it.
func (s *Server) GrantDelegate(user, room, right string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[strings.ToLower(user)]
	if a == nil {
		return fmt.Errorf("account %s: %w", user, errNotFound)
	}
	room = strings.ToLower(room)
	switch right {
	case "":
		delete(a.Delegate, room)
	case RightReviewer, RightFullAccess:
		a.Delegate[room] = right
	default:
		return fmt.Errorf("delegate right %q: want Reviewer, FullAccess or \"\" to revoke", right)
	}
	return nil
}

// lookup finds the account a user name designates: DOMAIN\user, user@dnsdomain or user.
func (s *Server) lookup(user, domain string) *account {
	if d, u, ok := strings.Cut(user, `\`); ok && domain == "" {
		domain, user = d, u
	}
	if u, d, ok := strings.Cut(user, "@"); ok {
		if !strings.EqualFold(d, s.opts.DNSDomain) {
			return nil
		}
		user = u
	}
	if domain != "" && !strings.EqualFold(domain, s.opts.Domain) && !strings.EqualFold(domain, s.opts.DNSDomain) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[strings.ToLower(user)]
}

func (a *account) canImpersonate(room string) bool {
	switch a.Impersonation {
	case ImpersonateAll:
		return true
	case ImpersonateScope:
		return a.scope[strings.ToLower(room)]
	}
	return false
}

// connState is the NTLM state of one TCP connection (IIS authenticates connections).
type connState struct {
	mu        sync.Mutex
	challenge *[8]byte
	user      string // authenticated account
}

type connKey struct{}

// authenticate runs the auth exchange; ok false means a 401 was written.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (user string, ok bool) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		cs = &connState{}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	s.mu.Lock()
	set := s.settings
	s.mu.Unlock()
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	switch {
	case h == "" && cs.user != "":
		return cs.user, true
	case strings.EqualFold(scheme, "NTLM") || strings.EqualFold(scheme, "Negotiate"):
		msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		if err != nil {
			break
		}
		switch ntlmMessageType(msg) {
		case 1:
			chal, c := ntlmChallenge(s.opts.Domain, s.opts.DNSDomain, DefaultComputer, s.now())
			cs.challenge, cs.user = &c, ""
			drain(r)
			w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(chal))
			w.WriteHeader(http.StatusUnauthorized)
			return "", false
		case 3:
			chal := cs.challenge
			cs.challenge = nil
			auth, err := parseNTLMAuthenticate(msg)
			if err != nil || chal == nil {
				break
			}
			acc := s.lookup(auth.user, auth.domain)
			if acc == nil {
				break
			}
			valid, cbt := auth.verify(acc.Password, *chal)
			if !valid {
				break
			}
			if set.ExtendedProtection && !equalBytes(cbt, s.cbt) {
				// Extended Protection "Require": right password, no (or a wrong) channel
				// binding: IIS answers exactly as to a wrong password.
				s.countAuthFailure("", true)
				s.unauthorized(w, r, set)
				return "", false
			}
			cs.user = acc.User
			return acc.User, true
		}
	case strings.EqualFold(scheme, "Basic") && set.Basic:
		if name, pw, ok := r.BasicAuth(); ok {
			if acc := s.lookup(name, ""); acc != nil && acc.Password == pw {
				return acc.User, true // Basic authenticates the request, not the connection
			}
		}
	case h == "":
		s.unauthorized(w, r, set)
		return "", false
	}
	s.countAuthFailure("", false)
	s.unauthorized(w, r, set)
	return "", false
}

func equalBytes(a, b []byte) bool { return len(a) > 0 && string(a) == string(b) }

func drain(r *http.Request) { _, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) }

// unauthorized is IIS's 401.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, set Settings) {
	drain(r)
	w.Header().Add("WWW-Authenticate", "Negotiate")
	w.Header().Add("WWW-Authenticate", "NTLM")
	if set.Basic {
		w.Header().Add("WWW-Authenticate", `Basic realm="`+r.Host+`"`)
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, "<html><head><title>401 - Unauthorized: Access is denied due to invalid credentials.</title></head>"+
		"<body><h2>401 - Unauthorized: Access is denied due to invalid credentials.</h2>"+
		"<h3>You do not have permission to view this directory or page using the credentials that you supplied.</h3></body></html>")
}
