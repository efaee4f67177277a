package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"golang.org/x/oauth2"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/otj-edge/otj-edge/sync/source"
)

// Room discovery (`otj-edge rooms discover`): the Admin SDK Directory API's
// resources.calendars.list gives the Workspace's calendar resources (rooms) with their
// resource email (the calendar id the sync reads), name, capacity, building and floor. It
// needs domain-wide delegation of the scope ScopeDirectoryResources to the service account,
// impersonating an admin (subject): the Directory API answers admins only. The requests are
// the command's own, outside the sync's daily budget: one per page of 500 resources.

// ScopeDirectoryResources is the scope room discovery asks for (read-only resources).
const ScopeDirectoryResources = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"

// DefaultDirectoryEndpoint is the Admin SDK's base URL (the directory_v1 discovery document's
// rootUrl).
const DefaultDirectoryEndpoint = "https://admin.googleapis.com/"

// directoryPageSize is resources.calendars.list's maxResults: Google's largest page.
const directoryPageSize = 500

// maxDirectoryPages bounds one listing (500,000 resources).
const maxDirectoryPages = 1000

// DirectoryEndpoint is the Admin SDK base URL for a Calendar API endpoint: Google's own for
// Google's, else the same host (a simulator or a proxy serves both).
func DirectoryEndpoint(calendarEndpoint string) (string, error) {
	ep, err := NormalizeEndpoint(calendarEndpoint)
	if err != nil {
		return "", err
	}
	if ep == DefaultEndpoint {
		return DefaultDirectoryEndpoint, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", ep, err)
	}
	return u.Scheme + "://" + u.Host + "/", nil
}

// Discover lists the calendar resources integration in can see (httpClient may be nil: the
// system roots plus ca_file). Only rooms are listed (resourceCategory CONFERENCE_ROOM, or
// none given); Google has no room lists, so rooms are grouped by nothing. A refusal says
// what to grant.
func Discover(ctx context.Context, in Integration, httpClient *http.Client) (source.Discovery, error) {
	in, err := normalize(in)
	if err != nil {
		return source.Discovery{}, err
	}
	if in.Subject == "" {
		return source.Discovery{}, fmt.Errorf("google integration %q: listing rooms needs domain-wide delegation: the Directory API answers "+
			"admins only, so set subject to a Workspace admin and add the scope %s to the service account's delegation "+
			"(Admin console → Security → Access and data control → API controls → Domain-wide delegation)", in.Name, ScopeDirectoryResources)
	}
	if httpClient == nil {
		if httpClient, err = newHTTPClient(in.CAFile); err != nil {
			return source.Discovery{}, fmt.Errorf("google integration %q: %w", in.Name, err)
		}
	}
	dirIn := in
	dirIn.Scopes = []string{ScopeDirectoryResources}
	cfg, key, err := parseKey(in.ServiceAccountKey, dirIn.Scopes, in.Subject)
	if err != nil {
		return source.Discovery{}, fmt.Errorf("google integration %q: %w", in.Name, err)
	}
	base, err := DirectoryEndpoint(in.Endpoint)
	if err != nil {
		return source.Discovery{}, fmt.Errorf("google integration %q: %w", in.Name, err)
	}
	tokenCtx := context.WithValue(ctx, oauth2.HTTPClient, httpClient)
	hc := &http.Client{Transport: &oauth2.Transport{Source: cfg.TokenSource(tokenCtx), Base: httpClient.Transport}, Timeout: httpClient.Timeout}
	svc, err := admin.NewService(ctx, option.WithEndpoint(base), option.WithHTTPClient(hc))
	if err != nil {
		return source.Discovery{}, fmt.Errorf("google integration %q: directory client: %w", in.Name, err)
	}
	var d source.Discovery
	page := ""
	for range maxDirectoryPages {
		call := svc.Resources.Calendars.List("my_customer").MaxResults(directoryPageSize).Context(ctx)
		if page != "" {
			call = call.PageToken(page)
		}
		res, err := call.Do()
		if err != nil {
			return source.Discovery{}, discoverError(err, dirIn, key)
		}
		for _, r := range res.Items {
			if r == nil || r.ResourceEmail == "" || (r.ResourceCategory != "" && r.ResourceCategory != "CONFERENCE_ROOM") {
				continue
			}
			room := source.DiscoveredRoom{Mailbox: strings.ToLower(r.ResourceEmail),
				DisplayName: firstNonEmpty(r.ResourceName, r.GeneratedResourceName, r.ResourceEmail),
				Building:    r.BuildingId, FloorLabel: r.FloorName}
			if r.Capacity > 0 {
				c := int(r.Capacity)
				room.Capacity = &c
			}
			d.Rooms = append(d.Rooms, room)
		}
		if res.NextPageToken == "" {
			sort.Slice(d.Rooms, func(i, j int) bool {
				a, b := d.Rooms[i], d.Rooms[j]
				if a.DisplayName != b.DisplayName {
					return a.DisplayName < b.DisplayName
				}
				return a.Mailbox < b.Mailbox
			})
			return d, nil
		}
		page = res.NextPageToken
	}
	return source.Discovery{}, fmt.Errorf("google integration %q: resources.calendars.list: more than %d pages", in.Name, maxDirectoryPages)
}

// discoverError says why the Directory refused, and what to grant.
func discoverError(err error, in Integration, key keyInfo) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("google integration %q: %s", in.Name, tokenFailure(re, in, key).detail)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusForbidden {
		return fmt.Errorf("google integration %q: the Directory API refused to list rooms for %s (403: %s): the subject must be a "+
			"Workspace admin allowed to read resources, and the service account's domain-wide delegation must include %s",
			in.Name, in.Subject, oneLine(ge.Message), ScopeDirectoryResources)
	}
	return fmt.Errorf("google integration %q: resources.calendars.list: %w", in.Name, err)
}
