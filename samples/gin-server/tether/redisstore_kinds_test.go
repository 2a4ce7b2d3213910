package tether

import "testing"

// The protocol tests' store table gains the Redis row: every table-driven
// test runs against a fresh redis-server too (skipped without one).
func init() {
	storeKinds = append(storeKinds, struct {
		name string
		make func(t *testing.T, opt MemoryOptions) Store
	}{"redis", func(t *testing.T, opt MemoryOptions) Store { return newRedisStore(t, opt) }})
}
