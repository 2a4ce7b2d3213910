// Command idle holds N idle tether.v1 sessions open against a server, for the
// Gin benchmark's memory-per-session figure (tests/bench/gin/run.sh): it dials
// them (hello, waits for welcome), prints "ready N" on stdout, then keeps every
// connection alive (answering pings, acking msgs) until its stdin closes.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	url := flag.String("url", "", "ws://HOST:PORT/ws")
	n := flag.Int("sessions", 10000, "sessions to hold")
	parallel := flag.Int("parallel", 64, "dials in flight")
	flag.Parse()
	d := &websocket.Dialer{Subprotocols: []string{"tether.v1"}, HandshakeTimeout: 30 * time.Second,
		ReadBufferSize: 512, WriteBufferSize: 512}
	conns := make([]*websocket.Conn, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, *parallel)
	errs := make(chan error, *n)
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, _, err := d.Dial(*url, nil)
			if err != nil {
				errs <- err
				return
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","v":1}`)); err != nil {
				errs <- err
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					errs <- err
					return
				}
				var f struct{ Type string }
				if json.Unmarshal(b, &f) == nil && f.Type == "welcome" {
					break
				}
			}
			_ = c.SetReadDeadline(time.Time{})
			conns[i] = c
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		log.Fatalf("idle: %v", err)
	}
	for _, c := range conns {
		go func(c *websocket.Conn) { // pongs are written by gorilla's default ping handler
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					return
				}
				var f struct {
					Type string
					Seq  uint64
				}
				if json.Unmarshal(b, &f) == nil && f.Type == "msg" {
					_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"ack","seq":%d}`, f.Seq)))
				}
			}
		}(c)
	}
	fmt.Printf("ready %d\n", *n)
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	for _, c := range conns {
		_ = c.Close()
	}
}
