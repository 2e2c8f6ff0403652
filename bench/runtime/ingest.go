package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/telnyxtest"
)

// delivery is one HTTP request of an ingest phase, built before the phase
// starts so that the load generator spends as little CPU as it can while
// the runtime is measured.
type delivery struct {
	url    string
	body   []byte
	header http.Header
	// telnyx, if set, signs the delivery when it is sent, as Telnyx does.
	telnyx *telnyxtest.Server
}

// result is what an ingest phase measured.
type result struct {
	deliveries int
	duration   time.Duration
	latencies  []time.Duration
	statuses   map[int]int
	errors     int
}

// deliver posts every delivery, concurrency at a time, in order.
func deliver(client *http.Client, ds []delivery, concurrency int) *result {
	res := &result{deliveries: len(ds), latencies: make([]time.Duration, len(ds)), statuses: map[int]int{}}
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ds) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, ds[i].url, bytes.NewReader(ds[i].body))
				req.Header = ds[i].header
				s := time.Now()
				if tx := ds[i].telnyx; tx != nil {
					sig, ts := tx.Sign(ds[i].body, s)
					req.Header = req.Header.Clone()
					req.Header.Set("Telnyx-Signature-Ed25519", sig)
					req.Header.Set("Telnyx-Timestamp", ts)
				}
				resp, err := client.Do(req)
				if resp != nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				res.latencies[i] = time.Since(s)
				mu.Lock()
				if err != nil {
					res.errors++
				} else {
					res.statuses[resp.StatusCode]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.duration = time.Since(t0)
	return res
}

func (r *result) failures(ok ...int) int {
	n := r.errors
	for code, c := range r.statuses {
		good := false
		for _, o := range ok {
			good = good || code == o
		}
		if !good {
			n += c
		}
	}
	return n
}

// apiDeliveries are n generic API messages from 2,000 contacts.
func apiDeliveries(addr, token string, n int) []delivery {
	h := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	ds := make([]delivery, n)
	for i := range ds {
		body := fmt.Sprintf(`{"contact":{"identifier":"+1555%07d","name":"Contact %d"},"messageId":"bench-%d","text":"Hello, I have a question about order %d"}`, i%2000, i%2000, i, i)
		ds[i] = delivery{url: "http://" + addr + "/api/v1/messages", body: []byte(body), header: h}
	}
	return ds
}

// Telnyx integration the webhook phase configures.
const (
	telnyxName   = "sms"
	telnyxNumber = "+15550001000"
)

// connectTelnyx does what the operator does for a connected telnyx
// Integration: it writes the credentials entry and the manifest in the
// workspace's Vault subtree. The runtime polls the manifest every
// contract.ManifestPollInterval; connectTelnyx waits until the webhook
// path refuses an unsigned delivery with 400 or 401 (the adapter is open
// and checks signatures) rather than 404.
func connectTelnyx(ctx context.Context, kv *vaultapi.KVv2, subtree, runtimeAddr string, tx *telnyxtest.Server) (string, error) {
	s, err := kv.Put(ctx, subtree+"/"+contract.IntegrationEntry(telnyxName), toAny(tx.Credentials()))
	if err != nil {
		return "", err
	}
	path := contract.WebhookPath("telnyx", telnyxName)
	m := contract.ChannelManifest{Integrations: map[string]contract.ChannelInfo{telnyxName: {
		Type: "telnyx", UID: "5b0e2c1a-bench-4e7f-9a51-telnyx000001", Config: tx.Config(telnyxNumber),
		CredentialsVersion: s.VersionMetadata.Version, WebhookPath: path,
	}}}
	if _, err := kv.Put(ctx, subtree+"/"+contract.EntryChannels, map[string]any{contract.ChannelManifestKey: contract.EncodeManifest(m)}); err != nil {
		return "", err
	}
	url := "http://" + runtimeAddr + path
	deadline := time.Now().Add(3*contract.ManifestPollInterval + 10*time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Post(url, "application/json", bytes.NewBufferString(`{}`))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized {
				return url, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("%s did not open: is the telnyx adapter linked into the runtime?", path)
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// webhookDeliveries are n distinct inbound SMS from 2,000 phones as signed
// message.received webhooks, each signed when it is sent, plus a second
// delivery (the same event, signed again, as a Telnyx retry is) of every message whose index is divisible by
// 1/retryRate. Half of the retries follow their first delivery at once, so
// that the two race in the runtime; the others come up to 500 deliveries
// later.
func webhookDeliveries(tx *telnyxtest.Server, url string, n int, retryRate float64) []delivery {
	type slot struct {
		pos float64
		i   int
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, n)
	var order []slot
	every := 0
	if retryRate > 0 {
		every = int(1/retryRate + 0.5)
	}
	for i := 0; i < n; i++ {
		bodies[i] = tx.InboundEvent(telnyxtest.Inbound{
			ID:   fmt.Sprintf("40385f64-5717-4562-b3fc-%012d", i),
			From: fmt.Sprintf("+1555%07d", i%2000), To: telnyxNumber,
			Text: fmt.Sprintf("Hello, I have a question about order %d", i),
		})
		order = append(order, slot{float64(i), i})
		if every > 0 && i%every == 0 {
			if (i/every)%2 == 0 {
				order = append(order, slot{float64(i) + 0.5, i})
			} else {
				order = append(order, slot{float64(i) + 1 + 499*rng.Float64(), i})
			}
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return order[a].pos < order[b].pos })
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"telnyx-webhooks"}}
	ds := make([]delivery, len(order))
	for k, s := range order {
		ds[k] = delivery{url: url, body: bodies[s.i], header: h, telnyx: tx}
	}
	return ds
}

// storedMessages counts the messages of a channel, and those that share
// an external id with another (duplicates).
func storedMessages(ctx context.Context, dsn, channel string) (total, duplicates int, err error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close(ctx)
	err = c.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT external_id) FROM messages WHERE channel = $1`, channel).
		Scan(&total, &duplicates)
	return total, duplicates, err
}
