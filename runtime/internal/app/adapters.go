package app

// The channel and service adapters the runtime can open, one package per
// Integration type; each registers its factory with package adapter.
import (
	_ "github.com/switchboard-dev/switchboard/runtime/internal/channels/email"
	_ "github.com/switchboard-dev/switchboard/runtime/internal/channels/meta"
	_ "github.com/switchboard-dev/switchboard/runtime/internal/channels/microsoft"
	_ "github.com/switchboard-dev/switchboard/runtime/internal/channels/places"
	_ "github.com/switchboard-dev/switchboard/runtime/internal/channels/shopify"
	_ "github.com/switchboard-dev/switchboard/runtime/internal/channels/telnyx"
)
