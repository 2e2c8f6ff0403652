package metatest

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

func TestPayloadsAreEncodedAsMetaEncodes(t *testing.T) {
	s := New(DefaultConfig())
	defer s.Close()
	body := s.WhatsAppMessages(WAMessage{From: "15551234567", Name: "Zoë", Text: "ok 👍 https://x.example/a"})
	for _, b := range body {
		if b >= 0x80 {
			t.Fatalf("a raw non-ASCII byte in %s", body)
		}
	}
	if !bytes.Contains(body, []byte(`Zo\u00eb`)) || !bytes.Contains(body, []byte(`\ud83d\udc4d`)) || !bytes.Contains(body, []byte(`https:\/\/x.example\/a`)) {
		t.Errorf("escapes missing: %s", body)
	}
	var v struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Messages []struct {
						Text struct{ Body string } `json:"text"`
					} `json:"messages"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Entry[0].Changes[0].Value.Messages[0].Text.Body != "ok 👍 https://x.example/a" {
		t.Errorf("round trip: %v %+v", err, v)
	}
}

func TestGraphValidatesAsDocumented(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequireAppSecretProof = false
	s := New(cfg)
	defer s.Close()
	s.SetTemplates(BodyTemplate("hello", "en_US", "UTILITY", "Hi {{1}}"))
	post := func(path, token, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/"+Version+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code := func(out map[string]any) float64 {
		e, _ := out["error"].(map[string]any)
		c, _ := e["code"].(float64)
		return c
	}
	wa := "/" + cfg.PhoneNumberID + "/messages"
	for _, c := range []struct {
		name, path, token, body string
		status                  int
		code                    float64
	}{
		{"wrong token", wa, "nope", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"x"}}`, 401, 190},
		{"no product", wa, cfg.WhatsAppToken, `{"to":"1","type":"text","text":{"body":"x"}}`, 400, 100},
		{"no body", wa, cfg.WhatsAppToken, `{"messaging_product":"whatsapp","to":"1","type":"text","text":{}}`, 400, 100},
		{"unknown template", wa, cfg.WhatsAppToken, `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"nope","language":{"code":"en_US"}}}`, 404, 132001},
		{"parameter count", wa, cfg.WhatsAppToken, `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"hello","language":{"code":"en_US","policy":"deterministic"}}}`, 400, 132000},
		{"template", wa, cfg.WhatsAppToken, `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"hello","language":{"code":"en_US","policy":"deterministic"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ana"}]}]}}`, 200, 0},
		{"messenger tag without type", "/" + cfg.PageID + "/messages?access_token=" + cfg.PageAccessToken, "", `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","tag":"HUMAN_AGENT","message":{"text":"x"}}`, 400, 100},
		{"messenger", "/" + cfg.PageID + "/messages?access_token=" + cfg.PageAccessToken, "", `{"recipient":{"id":"1"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"x"}}`, 200, 0},
	} {
		status, out := post(c.path, c.token, c.body)
		if status != c.status || code(out) != c.code {
			t.Errorf("%s: %d %v, want %d code %v", c.name, status, out, c.status, c.code)
		}
	}
	if n := len(s.Sent()); n != 2 {
		t.Errorf("recorded %d sends, want 2", n)
	}
}

func TestWhatsAppMediaUpload(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequireAppSecretProof = false
	s := New(cfg)
	defer s.Close()
	upload := func(product, mimeType string, data []byte) (int, map[string]any) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		_ = w.WriteField("messaging_product", product)
		_ = w.WriteField("type", mimeType)
		p, _ := w.CreateFormFile("file", "f")
		_, _ = p.Write(data)
		_ = w.Close()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/"+Version+"/"+cfg.PhoneNumberID+"/media", &buf)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+cfg.WhatsAppToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	send := func(body string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/"+Version+"/"+cfg.PhoneNumberID+"/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cfg.WhatsAppToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st, _ := upload("", "application/pdf", []byte("%PDF")); st != 400 {
		t.Errorf("no messaging_product: %d", st)
	}
	if st, out := upload("whatsapp", "text/csv", []byte("a,b")); st != 400 || out["error"].(map[string]any)["code"].(float64) != 131053 {
		t.Errorf("csv: %d %v", st, out)
	}
	if st, _ := upload("whatsapp", "image/png", make([]byte, 5<<20+1)); st != 400 {
		t.Errorf("an image over 5 MiB: %d", st)
	}
	st, out := upload("whatsapp", "application/pdf", []byte("%PDF"))
	id, _ := out["id"].(string)
	if st != 200 || id == "" {
		t.Fatalf("pdf: %d %v", st, out)
	}
	for body, want := range map[string]int{
		`{"messaging_product":"whatsapp","to":"1","type":"image","image":{"id":"` + id + `"}}`:                          400, // a PDF is no image
		`{"messaging_product":"whatsapp","to":"1","type":"document","document":{"id":"999"}}`:                           400,
		`{"messaging_product":"whatsapp","to":"1","type":"document","document":{"id":"` + id + `","filename":"a.pdf"}}`: 200,
	} {
		if got := send(body); got != want {
			t.Errorf("%s: %d, want %d", body, got, want)
		}
	}
	if sent := s.Sent(); len(sent) != 1 || sent[0].Media == nil || string(sent[0].Media.Data) != "%PDF" || sent[0].Media.Filename != "a.pdf" {
		t.Errorf("recorded: %+v", sent)
	}
}

func TestMessengerAttachmentUpload(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequireAppSecretProof = false
	s := New(cfg)
	defer s.Close()
	send := func(message string, file bool) int {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		_ = w.WriteField("recipient", `{"id":"1"}`)
		_ = w.WriteField("messaging_type", "RESPONSE")
		_ = w.WriteField("message", message)
		if file {
			p, _ := w.CreateFormFile("filedata", "a.pdf")
			_, _ = p.Write([]byte("%PDF"))
		}
		_ = w.Close()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/"+Version+"/"+cfg.PageID+"/messages?access_token="+cfg.PageAccessToken, &buf)
		req.Header.Set("Content-Type", w.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	attachment := `{"attachment":{"type":"file","payload":{"is_reusable":false}}}`
	for _, c := range []struct {
		name, message string
		file          bool
		want          int
	}{
		{"no file", attachment, false, 400},
		{"text and attachment", `{"text":"x","attachment":{"type":"file","payload":{}}}`, true, 400},
		{"an unknown type", `{"attachment":{"type":"sticker","payload":{}}}`, true, 400},
		{"a file", attachment, true, 200},
	} {
		if got := send(c.message, c.file); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if sent := s.Sent(); len(sent) != 1 || sent[0].Media == nil || sent[0].Media.Kind != "file" || string(sent[0].Media.Data) != "%PDF" {
		t.Errorf("recorded: %+v", sent)
	}
}
