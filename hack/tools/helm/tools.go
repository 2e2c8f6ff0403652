//go:build tools

// Package tools pins the helm command, which hack/build-tools.sh builds into
// bin/ so that `make helm` and the chart test need no prebuilt download.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
