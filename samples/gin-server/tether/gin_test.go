package tether

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// Mounted in a Gin router with the upgrade-auth middleware in front.
func TestGinMount(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		srv, err := New(Config{
			Store:                 newStore(MemoryOptions{}),
			OnMessage:             EchoHandler,
			AuthenticateAtUpgrade: true,
			Authenticate: func(token string, r *http.Request) (string, error) {
				if token != "good" {
					return "", ErrUnauthorized
				}
				return "user", nil
			},
			Logger: NewLogger(testWriter{t}, false),
		})
		if err != nil {
			t.Fatal(err)
		}
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.GET("/ws", srv.UpgradeAuth(), srv.GinHandler())
		hs := httptest.NewServer(r)
		ts := &testServer{t: t, srv: srv, hs: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
		defer func() {
			srv.Close()
			hs.Close()
		}()
		if _, err := ts.tryDial(http.Header{"Authorization": {"Bearer bad"}}); err == nil || err.(*dialError).status != 401 ||
			err.(*dialError).header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("bad token: %v", err)
		}
		c := ts.dial(http.Header{"Authorization": {"Bearer good"}})
		// The identity comes from the upgrade; hello needs no token.
		c.hello()
		c.msg(1, "a", `{"x":1}`)
		if f := c.nextOf("msg"); string(f.Data) != `{"echo":{"x":1},"id":"a"}` {
			t.Fatalf("echo %s", f.raw)
		}
	})
}

// Refuse is the admission answer for the application's own middleware:
// Retry-After in whole seconds, rounded up.
func TestRefuse(t *testing.T) {
	ts := startServer(t, Config{})
	for _, tc := range []struct {
		status int
		wait   time.Duration
		after  string
	}{{429, 1500 * time.Millisecond, "2"}, {503, time.Second, "1"}} {
		w := httptest.NewRecorder()
		ts.srv.Refuse(w, tc.status, tc.wait)
		if w.Code != tc.status || w.Header().Get("Retry-After") != tc.after {
			t.Fatalf("%d: got %d Retry-After %q", tc.status, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if n := ts.srv.Stats().UpgradesRejected.Load(); n != 2 {
		t.Fatalf("rejections %d", n)
	}
}
