package app

import "github.com/switchboard-dev/switchboard/runtime/internal/store"

func storeInbound(id string) store.Inbound {
	return store.Inbound{Channel: "api", Identifier: "x@y.example", ExternalID: id, Body: "hello"}
}
