package agent

// Version and Commit are stamped at build time:
//
//	-ldflags "-X github.com/otj-edge/otj-edge/agent.Version=v1.2.3 -X github.com/otj-edge/otj-edge/agent.Commit=abc123"
var (
	Version = "dev"
	Commit  = "unknown"
)
