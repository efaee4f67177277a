package cli

import "flag"

// update rewrites the golden files in testdata/ (go test ./agent/cli/ -run TestX -update).
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")
