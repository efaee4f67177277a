package cli

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
)

// quietTracing gives the libraries' OpenTelemetry spans a no-op provider. The agent exports no
// traces, yet kiota (under msgraph-sdk-go) opens a span in each of its middlewares on every
// Graph request, and google.golang.org/api's transport one per request too. Under
// OpenTelemetry's default global provider (a delegate waiting for an SDK that never comes) each
// of those built a tracer configuration and a span: about 3.5 % of the agent's steady CPU and
// 2.5 % of its allocations at 1,000 rooms (a CPU and heap profile of the bench's steady window).
// The no-op provider's tracers and spans cost next to nothing. An exporter, if one is ever
// wanted, replaces this call.
func quietTracing() { otel.SetTracerProvider(noop.NewTracerProvider()) }
