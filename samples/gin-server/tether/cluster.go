package tether

// Notifier is implemented by a Store shared by several instances (such as
// RedisStore) that can tell an instance about changes other instances made
// to sessions it holds. New starts listening when the Store is one, and
// Close stops it. Notifications are hints: the Store stays the source of
// truth, and every connection re-reads its replay buffer at least once per
// heartbeat, so a lost notification delays delivery by at most one
// heartbeat.
type Notifier interface {
	Listen(instance string, n Notifications) (stop func())
}

// Notifications are the Server's callbacks for a Notifier. They may be
// called from any goroutine and must not block.
type Notifications struct {
	Wake      func(session string)             // new msgs for the session
	TakenOver func(session string, gen uint64) // resumed elsewhere; gen is the generation it took over
	Resync    func()                           // notifications may have been lost: wake everything
}

// notifications are the Server's handlers for its Store's Notifier: a
// connection woken by a takeover elsewhere reads the store, finds itself
// fenced and closes with 4009.
func (s *Server) notifications() Notifications {
	return Notifications{
		Wake:      func(session string) { s.Notify(session) },
		TakenOver: func(session string, _ uint64) { s.Notify(session) },
		Resync: func() {
			s.mu.Lock()
			for _, c := range s.attached {
				c.wakeup()
			}
			s.mu.Unlock()
		},
	}
}
