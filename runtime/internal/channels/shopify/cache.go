package shopify

import (
	"sync"
	"time"
)

// cacheEntry is one contact's orders, under the identifiers it was looked
// up by.
type cacheEntry struct {
	key            string
	emails, phones []string // normalised (normEmails, normPhones)
	orders         *Orders
	at             time.Time
}

// orderCache holds recent lookups, at most max of them, each for CacheTTL.
type orderCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*cacheEntry
	// gen counts invalidations: a lookup that began before one does not
	// store what it found, which may predate the change.
	gen uint64
}

func newOrderCache(max int) *orderCache {
	return &orderCache{max: max, m: map[string]*cacheEntry{}}
}

func (c *orderCache) get(key string, now time.Time) (*Orders, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= CacheTTL || now.Before(e.at) {
		return nil, false
	}
	return e.orders, true
}

func (c *orderCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores e unless an invalidation came since gen.
func (c *orderCache) put(e *cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.m[e.key]; !ok && len(c.m) >= c.max {
		var oldest *cacheEntry
		for k, x := range c.m {
			if e.at.Sub(x.at) >= CacheTTL {
				delete(c.m, k)
			} else if oldest == nil || x.at.Before(oldest.at) {
				oldest = x
			}
		}
		if len(c.m) >= c.max && oldest != nil {
			delete(c.m, oldest.key)
		}
	}
	c.m[e.key] = e
}

// invalidate drops the entries of a customer: those looked up by one of
// emails or phones (normalised), or that matched one of customerIDs. It
// returns how many went.
func (c *orderCache) invalidate(emails, phones, customerIDs []string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	n := 0
	for k, e := range c.m {
		hit := contains(customerIDs, e.orders.CustomerID) && e.orders.CustomerID != ""
		for _, x := range e.emails {
			hit = hit || contains(emails, x)
		}
		for _, x := range e.phones {
			hit = hit || contains(phones, x)
		}
		if hit {
			delete(c.m, k)
			n++
		}
	}
	return n
}

func (c *orderCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

func (c *orderCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// idSet remembers ids for ttl, at most max of them (the oldest go first):
// webhook deliveries already handled.
type idSet struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	m     map[string]time.Time
	queue []seenID // by time added
}

type seenID struct {
	id string
	at time.Time
}

func newIDSet(max int, ttl time.Duration) *idSet {
	return &idSet{max: max, ttl: ttl, m: map[string]time.Time{}}
}

// add records id and says whether it is new: false if it was added less
// than ttl ago.
func (s *idSet) add(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) > 0 && (now.Sub(s.queue[0].at) >= s.ttl || len(s.queue) >= s.max) {
		old := s.queue[0]
		s.queue = s.queue[1:]
		if at, ok := s.m[old.id]; ok && at.Equal(old.at) {
			delete(s.m, old.id)
		}
	}
	if at, ok := s.m[id]; ok && now.Sub(at) < s.ttl {
		return false
	}
	s.m[id] = now
	s.queue = append(s.queue, seenID{id, now})
	return true
}
