// Command plain is the baseline of the Gin benchmark (tests/bench/gin): a
// gorilla/websocket echo server written the way the usual articles write one.
// A hub goroutine keeps the clients; each connection has a read pump and a
// write pump fed by a buffered send channel (256); pings every 54 s, a 60 s
// read deadline. As in gorilla's echo example, the reader waits while the
// writer is behind (the chat example's drop-the-client-when-full is for
// broadcasts, which this server does not do). No reliability at all: no
// session, no replay buffer, no resume, no dedupe.
//
// It answers just enough tether.v1 for tether-cli and the SDK to talk to it:
// welcome to any hello (always a new session), a cumulative ack of the last
// msg read (coalesced: the write pump sends the latest one), and with --echo a
// msg {"echo": data, "id": id} per msg. Flags are chat-server's where they
// exist (--host, --port 0 prints "listening on HOST:PORT", --path, --echo;
// --heartbeat-ms is accepted and ignored). /metrics serves go_goroutines.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	writeWait  = 10 * time.Second
	pongWait   = 60 * time.Second
	pingPeriod = (pongWait * 9) / 10
	sendBuffer = 256
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	Subprotocols:    []string{"tether.v1"},
}

type hub struct {
	clients    map[*client]bool
	register   chan *client
	unregister chan *client
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
			}
		}
	}
}

type client struct {
	hub    *hub
	conn   *websocket.Conn
	send   chan []byte   // written by the read pump only; closed by the hub
	ackDue chan struct{} // capacity 1: "an ack is owed"
	lastIn uint64        // atomic: last client seq read
	outSeq uint64        // server msg seq (read pump only)
	echo   bool
}

type inFrame struct {
	Type string          `json:"type"`
	Seq  uint64          `json:"seq"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

func secret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *client) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	c.conn.SetReadLimit(16 << 20)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
		var f inFrame
		if json.Unmarshal(msg, &f) != nil {
			return
		}
		switch f.Type {
		case "hello":
			w, _ := json.Marshal(map[string]interface{}{"type": "welcome", "session": secret(),
				"resume_token": secret(), "resumed": false, "last_seq": 0})
			c.send <- w
		case "msg":
			atomic.StoreUint64(&c.lastIn, f.Seq)
			if c.echo {
				c.outSeq++
				data, _ := json.Marshal(map[string]interface{}{"echo": f.Data, "id": f.ID})
				out, _ := json.Marshal(map[string]interface{}{"type": "msg", "seq": c.outSeq, "id": f.ID,
					"data": json.RawMessage(data)})
				c.send <- out
			}
			select {
			case c.ackDue <- struct{}{}:
			default:
			}
		case "bye":
			_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"),
				time.Now().Add(writeWait))
			return
		}
	}
}

func (c *client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	write := func(b []byte) bool {
		_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
		return c.conn.WriteMessage(websocket.TextMessage, b) == nil
	}
	for {
		select {
		case b, ok := <-c.send:
			if !ok {
				_ = c.conn.WriteMessage(websocket.CloseMessage, []byte{})
				return
			}
			if !write(b) {
				return
			}
		case <-c.ackDue:
			if !write([]byte(fmt.Sprintf(`{"type":"ack","seq":%d}`, atomic.LoadUint64(&c.lastIn)))) {
				return
			}
		case <-ticker.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func main() {
	host := flag.String("host", "127.0.0.1", "listen address")
	port := flag.Int("port", 8080, "listen port, 0 = ephemeral")
	path := flag.String("path", "/ws", "WebSocket path")
	echo := flag.Bool("echo", false, `reply {"echo": data, "id": id} to every msg`)
	flag.Int("heartbeat-ms", 0, "accepted for chat-server compatibility; pings are every 54 s")
	flag.Parse()

	h := &hub{clients: map[*client]bool{}, register: make(chan *client), unregister: make(chan *client)}
	go h.run()
	mux := http.NewServeMux()
	mux.HandleFunc(*path, func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &client{hub: h, conn: conn, send: make(chan []byte, sendBuffer), ackDue: make(chan struct{}, 1), echo: *echo}
		h.register <- c
		go c.writePump()
		go c.readPump()
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	log.Fatal(http.Serve(ln, mux))
}
