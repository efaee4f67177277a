// Package sdkcheck proves that msgraph-sdk-go parses graphsim's answers. It holds only tests:
// they live apart from graphsim's own so graphsim's test binary does not link the (heavy) SDK.
package sdkcheck
