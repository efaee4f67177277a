package poly

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServerFaultLogsItsCause: a calendar the service cannot read answers the endpoint with
// Exchange's generic internal error, and the operator's log says why (the store's error);
// an endpoint that hung up before its answer is no warning at all.
func TestServerFaultLogsItsCause(t *testing.T) {
	getFolder := []byte(envelope(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>`))
	for _, tc := range []struct {
		name   string
		hungUp bool
	}{{"store closed", false}, {"endpoint hung up", true}} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			var logs bytes.Buffer
			fx.opts.Logger = newLockedLogger(&logs)
			svc, err := NewService(fx.opts)
			require.NoError(t, err)
			ctx := t.Context()
			if tc.hungUp {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			} else {
				require.NoError(t, fx.st.Close())
			}
			resp, fault := svc.handleSOAP(ctx, svc.accts.lookup(userA), getFolder)
			require.Nil(t, resp)
			require.NotNil(t, fault)
			assert.Equal(t, "Server", fault.soapCode)
			assert.Equal(t, "the calendar could not be read; try again shortly", fault.msg, "the endpoint sees Exchange's generic error")
			assert.NotContains(t, string(faultBody(fault)), "database", "the cause stays in the log")
			if tc.hungUp {
				assert.NotContains(t, logText(&logs), "level=WARN", "a request that ended is no warning")
				assert.Contains(t, logText(&logs), "ews: request ended before its answer")
				return
			}
			assert.Contains(t, logText(&logs), `msg="ews: could not answer" endpoint=poly-a operation=GetFolder`)
			assert.Contains(t, logText(&logs), "cause=", "the log says why")
			assert.Contains(t, logText(&logs), "closed")
		})
	}
}
