package inbox

import (
	"slices"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func TestMentioned(t *testing.T) {
	members := []store.Member{
		{ID: 1, Name: "Alex Agent", Email: "alex.agent@team.example"},
		{ID: 2, Name: "Alex Admin", Email: "alex.admin@team.example"},
		{ID: 3, Name: "Priya Shah", Email: "priya@team.example"},
		{ID: 4, Name: "Sam Twin", Email: "sam1@team.example"},
		{ID: 5, Name: "Sam Twin", Email: "sam2@team.example"},
		{ID: 6, Name: "", Email: "nameless@team.example"},
		{ID: 7, Name: "Vic", Email: "vic@team.example"},
		{ID: 8, Name: "Vic Viewer", Email: "vv@team.example"},
		{ID: 9, Name: "Zoë Ünal", Email: "zoe@team.example"},
	}
	for _, tc := range []struct {
		body string
		want []int64
	}{
		{"@Alex Agent please look", []int64{1}},
		{"cc @alex admin, and @ALEX AGENT.", []int64{2, 1}},
		{"@Alex Agent @Alex Agent twice", []int64{1}},
		{"@Alex alone is two people", nil},
		{"@Priya and @priya again", []int64{3}},
		{"@Priya Shahs: her first name", []int64{3}}, // "Priya" is a unique first name
		{"@Sam Twin is two people", nil},
		{"@sam2@team.example is one", []int64{5}},
		{"@sam2@team.example.au is someone else", nil},
		{"@nameless@team.example", []int64{6}},
		{"write to priya@team.example, not a mention", nil},
		{"@Vic", []int64{7}},                 // a whole name beats another's first name
		{"@Vic Viewer", []int64{8}},          // the longest handle wins
		{"(@Zoë Ünal)", []int64{9}},          // letters beyond ASCII, in any case
		{"@zoË üNAL", []int64{9}},            //
		{"@Nobody Here and @", nil},          // unknown names are ignored
		{"email@ with no one", nil},          //
		{"@Alex Agent's ticket", []int64{1}}, // punctuation ends a name
		{"@Alex Agentur is no one", nil},     // a name ends at a word's end
		{"@priya@team.example.", []int64{3}}, // a sentence's full stop
		{"@Alex Agent\n@Priya Shah", []int64{1, 3}},
	} {
		if got := Mentioned(tc.body, members); !slices.Equal(got, tc.want) {
			t.Errorf("Mentioned(%q) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

func TestHandle(t *testing.T) {
	members := []store.Member{
		{ID: 1, Name: "Alex Agent", Email: "alex@team.example"},
		{ID: 2, Name: "Sam Twin", Email: "sam1@team.example"},
		{ID: 3, Name: "sam twin", Email: "sam2@team.example"},
		{ID: 4, Name: " ", Email: "blank@team.example"},
	}
	want := []string{"Alex Agent", "sam1@team.example", "sam2@team.example", "blank@team.example"}
	for i, m := range members {
		h := Handle(m, members)
		if h != want[i] {
			t.Errorf("Handle(%s) = %q, want %q", m.Email, h, want[i])
		}
		// What the composer inserts mentions that member, and only them.
		if got := Mentioned("@"+h+" see this", members); !slices.Equal(got, []int64{m.ID}) {
			t.Errorf("@%s mentions %v, want [%d]", h, got, m.ID)
		}
	}
}
