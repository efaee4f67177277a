package cli

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel"
)

// TestQuietTracing: after quietTracing the spans libraries open through the global provider
// record nothing and cost at most the context they are carried in (under the default provider,
// a tracer configuration and a span on every call).
func TestQuietTracing(t *testing.T) {
	ctx := context.Background()
	start := func() {
		_, span := otel.GetTracerProvider().Tracer("kiota").Start(ctx, "UserAgentHandler_Intercept")
		span.End()
	}
	quietTracing()
	_, span := otel.GetTracerProvider().Tracer("kiota").Start(ctx, "x")
	assert.False(t, span.IsRecording())
	after := testing.AllocsPerRun(100, start)
	assert.LessOrEqual(t, after, 1.0, "the default provider allocates a tracer configuration and a span each time")
}
