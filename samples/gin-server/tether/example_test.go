package tether_test

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"tether.dev/gin-server/tether"
)

// Embedding in a Gin app: docs/gin-server.md shows this code. (Compiled, not
// run: it would listen on 8080.)
func Example_gin() {
	srv, err := tether.New(tether.Config{
		Authenticate: func(token string, r *http.Request) (string, error) {
			if token != "secret" {
				return "", tether.ErrUnauthorized
			}
			return "user-42", nil // the identity: keys the id-dedupe window
		},
		OnMessage: func(ctx *tether.Context, m tether.Message) error {
			return ctx.Reply(map[string]interface{}{"got": m.Data})
		},
	})
	if err != nil {
		panic(err)
	}
	r := gin.New()
	r.GET("/ws", srv.GinHandler())
	r.GET("/metrics", gin.WrapH(srv.MetricsHandler()))
	r.GET("/healthz", gin.WrapF(srv.Healthz))
	hs := &http.Server{Addr: "127.0.0.1:8080", Handler: r}
	go func() { _ = hs.ListenAndServe() }()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)  // stop accepting
	_ = srv.Shutdown(ctx) // flush acks, 1012 once acked, wait
}
