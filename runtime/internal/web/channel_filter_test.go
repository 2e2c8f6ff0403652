package web

import (
	"reflect"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
)

type statusList []integrations.Status

func (l statusList) Statuses() []integrations.Status  { return l }
func (statusList) Get(string) (adapter.Adapter, bool) { return nil, false }
func (statusList) OfType(string) []adapter.Adapter    { return nil }

func TestChannelFiltersListConnectedChannels(t *testing.T) {
	s := &Server{Options: Options{Integrations: statusList{
		{Name: "sms", Type: "telnyx", Key: "telnyx/sms"},
		{Name: "support", Type: "imap", Key: "imap/support"},
		{Name: "shop", Type: "shopify", Key: "shopify/shop"}, // carries no conversations
	}}}
	got := s.channelFilters("whatsapp/old")
	want := []channelFilter{{"api", "API"}, {"telnyx/sms", "SMS · sms"}, {"imap/support", "Email · support"}, {"whatsapp/old", "WhatsApp · old"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("filters = %v, want %v", got, want)
	}
}
