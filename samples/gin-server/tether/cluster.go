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

// notifications are the Server's handlers for its Store's Notifier.
func (s *Server) notifications() Notifications {
	return Notifications{
		Wake: func(session string) {
			s.mu.Lock()
			if c := s.attached[session]; c != nil {
				c.wakeup()
			}
			s.mu.Unlock()
		},
		TakenOver: func(session string, gen uint64) {
			s.mu.Lock()
			c := s.attached[session]
			if c != nil {
				c.mu.Lock()
				stale := c.generation <= gen
				c.mu.Unlock()
				if !stale {
					c = nil
				} else {
					delete(s.attached, session)
					delete(s.owned, session)
				}
			}
			s.mu.Unlock()
			if c != nil {
				s.stats.Takeovers.Add(1)
				c.requestClose(closeTakenOver, codeTakenOver, nil)
			}
		},
		Resync: func() {
			s.mu.Lock()
			for _, c := range s.attached {
				c.wakeup()
			}
			s.mu.Unlock()
		},
	}
}
