package web

import (
	"net/url"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func auditFilter(q url.Values) store.AuditFilter {
	f := store.AuditFilter{Action: q.Get("action"), ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"), Query: q.Get("q"), Limit: 100}
	f.ActorID, _ = strconv.ParseInt(q.Get("actor"), 10, 64)
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	return f
}
