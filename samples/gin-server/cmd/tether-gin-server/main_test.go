package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The command end to end, in process: flags, the first stdout line, echo,
// /metrics, /healthz, scripted rejections, and the graceful stop.
func TestCommand(t *testing.T) {
	o, err := parseFlags([]string{"--port", "0", "--echo", "--heartbeat-ms", "0", "--reject-upgrades", "1",
		"--reject-status", "429", "--retry-after-s", "7", "--drain-ms", "10000"})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	out, stdout := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(o, stop, stdout)
		stdout.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on 127.0.0.1:") {
		t.Fatalf("first line %q: %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))

	d := websocket.Dialer{Subprotocols: []string{"tether.v1"}, HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial("ws://"+addr+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("first upgrade: %v %+v", err, resp)
	}
	ws, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	read := func() map[string]interface{} {
		t.Helper()
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]interface{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","v":1}`))
	if w := read(); w["type"] != "welcome" {
		t.Fatalf("welcome %v", w)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"msg","seq":1,"id":"x","data":{"a":1}}`))
	var echo map[string]interface{}
	for echo == nil {
		if m := read(); m["type"] == "msg" {
			echo = m
		}
	}
	if b, _ := json.Marshal(echo["data"]); string(b) != `{"echo":{"a":1},"id":"x"}` {
		t.Fatalf("echo %s", b)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": "tether_messages_in_total 1"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Fatalf("%s: %q lacks %q", path, body, want)
		}
	}

	// SIGTERM: acks are flushed, the close waits for our ack of the echo.
	stop <- syscall.SIGTERM
	for {
		if m := read(); m["type"] == "ack" {
			break
		}
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","seq":1}`))
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1012 {
		t.Fatalf("close %v, want 1012", err)
	}
	select {
	case rc := <-done:
		if rc != 0 {
			t.Fatalf("exit code %d", rc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command did not exit")
	}
}

func TestFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"--port", "70000"}, {"--path", "ws"}, {"--upgrade-auth"}, {"--tls-cert", "x"}, {"--bogus"},
		{"--reject-status", "200"}, {"extra"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	o, err := parseFlags([]string{"--host", "::1", "--port", "0", "--tokens", "a,b", "--upgrade-auth", "--verbose"})
	if err != nil || o.host != "::1" || !o.upgradeAuth || len(splitList(o.tokens)) != 2 {
		t.Fatalf("%+v %v", o, err)
	}
}
