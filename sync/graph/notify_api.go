package graph

import (
	"context"
	"net/http"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// The subscription requests (POST, PATCH, DELETE /subscriptions) through the same SDK request
// adapter as the calendar requests: the same token, allowed hosts, middleware and error
// reading (client.go). They never go into a $batch: they are rare, and each create waits for
// Graph's validation request to our own listener.

const (
	subscriptionsTemplate = "{+baseurl}/subscriptions"
	subscriptionTemplate  = "{+baseurl}/subscriptions/{subscription%2Did}"
)

// subscriptionRequest sends one subscription request with a JSON body (nil: none).
func (a *api) subscriptionRequest(ctx context.Context, method abstractions.HttpMethod, id string, body []byte) result {
	adapter, gen := a.current()
	template, path := subscriptionsTemplate, map[string]string{}
	if id != "" {
		template, path = subscriptionTemplate, map[string]string{"subscription%2Did": id}
	}
	ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(method, template, path)
	ri.Headers.TryAdd("Accept", "application/json")
	if body != nil {
		ri.SetStreamContentAndContentType(body, "application/json")
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	v, err := adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil {
		r := a.errorResult(err)
		r.gen = gen
		return r
	}
	out, _ := v.([]byte) // nil for 204 No Content (DELETE)
	status := http.StatusOK
	if out == nil {
		status = http.StatusNoContent
	}
	return result{status: status, body: out, retryAfter: -1, sent: true, gen: gen}
}
