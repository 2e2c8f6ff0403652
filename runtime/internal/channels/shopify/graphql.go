package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// maxResponse bounds what is read of an answer: five orders are a few KiB.
const maxResponse = 1 << 20

// maxThrottleWait is the longest a lookup waits for the shop's cost bucket
// to refill before it gives up: a sidebar should not hang.
const maxThrottleWait = 2 * time.Second

// errRetry marks failures worth trying again later (no answer, 5xx).
var errRetry = errors.New("try again later")

// GraphQLError is one entry of a GraphQL answer's errors.
type GraphQLError struct {
	Message string
	// Code is extensions.code: THROTTLED, ACCESS_DENIED, ...
	Code string
}

// Cost is a GraphQL answer's extensions.cost.
type Cost struct {
	RequestedQueryCost float64  `json:"requestedQueryCost"`
	ActualQueryCost    *float64 `json:"actualQueryCost"`
	ThrottleStatus     struct {
		MaximumAvailable   float64 `json:"maximumAvailable"`
		CurrentlyAvailable float64 `json:"currentlyAvailable"`
		RestoreRate        float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

// Response is an Admin API GraphQL answer.
type Response struct {
	Data   json.RawMessage
	Errors []GraphQLError
	Cost   *Cost
}

// ParseResponse reads a GraphQL answer. Shopify's errors member is a list
// of {message, extensions{code}} for GraphQL errors, but a plain string for
// some refusals ("[API] Invalid API key or access token ...").
func ParseResponse(b []byte) (*Response, error) {
	var raw struct {
		Data       json.RawMessage `json:"data"`
		Errors     json.RawMessage `json:"errors"`
		Extensions struct {
			Cost *Cost `json:"cost"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("the answer is not a GraphQL response: %w", err)
	}
	r := &Response{Data: raw.Data, Cost: raw.Extensions.Cost}
	if len(raw.Errors) == 0 || string(raw.Errors) == "null" {
		return r, nil
	}
	var list []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	}
	var one string
	switch {
	case json.Unmarshal(raw.Errors, &list) == nil:
		for _, e := range list {
			r.Errors = append(r.Errors, GraphQLError{Message: e.Message, Code: e.Extensions.Code})
		}
	case json.Unmarshal(raw.Errors, &one) == nil:
		r.Errors = []GraphQLError{{Message: one}}
	default:
		r.Errors = []GraphQLError{{Message: "unreadable errors"}}
	}
	if len(r.Errors) == 0 {
		r.Errors = []GraphQLError{{Message: "empty errors"}}
	}
	return r, nil
}

// Throttled says whether Shopify refused the query for want of cost
// points, and if so how long the bucket takes to hold enough again.
func (r *Response) Throttled() (bool, time.Duration) {
	for _, e := range r.Errors {
		if e.Code == "THROTTLED" || e.Message == "Throttled" {
			return true, r.Cost.refill()
		}
	}
	return false, 0
}

// refill is how long until the bucket holds the requested cost; 1 s when
// the answer does not say.
func (c *Cost) refill() time.Duration {
	if c == nil || c.ThrottleStatus.RestoreRate <= 0 {
		return time.Second
	}
	need := c.RequestedQueryCost - c.ThrottleStatus.CurrentlyAvailable
	if need <= 0 {
		return 0
	}
	d := time.Duration(need / c.ThrottleStatus.RestoreRate * float64(time.Second))
	return min(d, time.Minute)
}

// throttled is a query refused for cost: wait before asking again.
type throttled struct{ wait time.Duration }

func (t *throttled) Error() string { return ErrThrottled.Error() }
func (t *throttled) Unwrap() error { return ErrThrottled }

// graphql runs one query, waiting out a short throttle once.
func (a *Adapter) graphql(ctx context.Context, query string, vars map[string]any, out any) error {
	for attempt := 0; ; attempt++ {
		if wait := a.throttleWait(); wait > 0 {
			if wait > maxThrottleWait {
				return ErrThrottled
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
		err := a.do(ctx, query, vars, out)
		var t *throttled
		if errors.As(err, &t) && attempt == 0 {
			continue // the next turn waits for the refill, or gives up
		}
		return err
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (a *Adapter) throttleWait() time.Duration {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.throttledUntil.Sub(a.d.Clock())
}

// noteCost remembers when the bucket will hold what the last query asked
// for, so that the next query does not go out only to be refused.
func (a *Adapter) noteCost(c *Cost, refused bool) time.Duration {
	if c == nil && !refused {
		return 0
	}
	wait := c.refill()
	if wait <= 0 {
		return 0
	}
	a.mu.Lock()
	a.throttledUntil = a.d.Clock().Add(wait)
	a.mu.Unlock()
	return wait
}

// do sends one query. Nothing it returns or reports holds the token.
func (a *Adapter) do(ctx context.Context, query string, vars map[string]any, out any) error {
	token, _, ok := a.credentials()
	if !ok {
		return ErrClosed
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.report(contract.HealthUnreachable, "", "Shopify did not answer")
		return fmt.Errorf("%w: no answer: %w", ErrUnavailable, errRetry)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%w: reading the answer: %w", ErrUnavailable, errRetry)
	}
	status := strconv.Itoa(resp.StatusCode)
	switch c := resp.StatusCode; {
	case c == http.StatusUnauthorized:
		a.report(contract.HealthAuthFailed, status, "Shopify refused the access token")
		return fmt.Errorf("%w: the access token was refused", ErrUnavailable)
	case c == http.StatusForbidden:
		a.report(contract.HealthAuthFailed, status, "the access token lacks a scope the adapter needs (read_customers, read_orders)")
		return fmt.Errorf("%w: forbidden", ErrUnavailable)
	case c == http.StatusPaymentRequired, c == http.StatusLocked:
		a.report(contract.HealthMisconfigured, status, "the shop is frozen or locked")
		return fmt.Errorf("%w: the shop is frozen or locked", ErrUnavailable)
	case c == http.StatusNotFound:
		a.report(contract.HealthMisconfigured, status, "Shopify knows no shop "+a.shop)
		return fmt.Errorf("%w: no such shop", ErrUnavailable)
	case c == http.StatusTooManyRequests:
		r, _ := ParseResponse(raw)
		var cost *Cost
		if r != nil {
			cost = r.Cost
		}
		return &throttled{a.noteCost(cost, true)}
	case c >= 500:
		a.report(contract.HealthUnreachable, status, "Shopify answered "+status)
		return fmt.Errorf("%w: status %s: %w", ErrUnavailable, status, errRetry)
	case c != http.StatusOK:
		return fmt.Errorf("%w: status %s", ErrUnavailable, status)
	}
	r, err := ParseResponse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if yes, _ := r.Throttled(); yes {
		return &throttled{a.noteCost(r.Cost, true)}
	}
	a.noteCost(r.Cost, false)
	if len(r.Errors) > 0 {
		code := r.Errors[0].Code
		if code == "ACCESS_DENIED" {
			a.report(contract.HealthAuthFailed, code, "the access token lacks a scope the adapter needs (read_customers, read_orders)")
		}
		if code == "" {
			code = "a GraphQL error"
		}
		// Messages may quote the query's values (an email address): the
		// error carries the code only.
		return fmt.Errorf("%w: %s", ErrUnavailable, code)
	}
	a.report(contract.HealthConnected, "", "")
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return fmt.Errorf("%w: unexpected data: %w", ErrUnavailable, err)
		}
	}
	return nil
}
