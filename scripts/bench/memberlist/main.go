// One memberlist node for the memberlist benchmark (scripts/bench/versus.ts): the reference peer that
// commy's overhead, failure detection and join times are compared with. memberlist.DefaultLANConfig()
// unchanged but for the node's name and address; every membership event is one JSON line on stdout,
// {"event":"join"|"leave"|"update","node":NAME,"ms":UNIX_MS}, after a {"event":"ready",...} line once the
// node listens, and {"event":"joined",...} once the join through the seeds returned. SIGTERM or SIGINT
// leaves the cluster (1 s at most) and exits 0.
//
// Built by versus.ts from Debian's packages only (golang-go, golang-github-hashicorp-memberlist-dev), in
// GOPATH mode: GO111MODULE=off GOPATH=<cache>:/usr/share/gocode GOPROXY=off go build.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// line writes one event; the encoder ends each value with a newline.
func line(event, node string, extra map[string]interface{}) {
	m := map[string]interface{}{"event": event, "node": node, "ms": time.Now().UnixMilli()}
	for k, v := range extra {
		m[k] = v
	}
	out.Lock()
	defer out.Unlock()
	if err := out.enc.Encode(m); err != nil {
		os.Exit(1) // the benchmark is gone: nobody reads our events
	}
}

// events turns memberlist's membership callbacks into lines.
type events struct{}

func (events) NotifyJoin(n *memberlist.Node)   { line("join", n.Name, nil) }
func (events) NotifyLeave(n *memberlist.Node)  { line("leave", n.Name, nil) }
func (events) NotifyUpdate(n *memberlist.Node) { line("update", n.Name, nil) }

func main() {
	name := flag.String("name", "", "this node's name (unique in the cluster)")
	bind := flag.String("bind", "127.0.0.1", "address to bind (UDP and TCP)")
	port := flag.Int("port", 7946, "port to bind (UDP and TCP)")
	join := flag.String("join", "", "comma-separated host:port of members to join through (none: the first node)")
	verbose := flag.Bool("log", false, "memberlist's own log on stderr")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "usage: memberlist-node -name NAME [-bind ADDR] [-port PORT] [-join HOST:PORT,...]")
		os.Exit(2)
	}

	cfg := memberlist.DefaultLANConfig()
	cfg.Name = *name
	cfg.BindAddr = *bind
	cfg.BindPort = *port
	cfg.AdvertisePort = *port
	cfg.Events = events{}
	if !*verbose {
		cfg.LogOutput = io.Discard
	} else {
		cfg.Logger = log.New(os.Stderr, *name+" ", log.LstdFlags|log.Lmicroseconds)
	}

	list, err := memberlist.Create(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "memberlist-node %s: %v\n", *name, err)
		os.Exit(1)
	}
	line("ready", *name, map[string]interface{}{"pid": os.Getpid()})

	if *join != "" {
		if _, err := list.Join(strings.Split(*join, ",")); err != nil {
			fmt.Fprintf(os.Stderr, "memberlist-node %s: join: %v\n", *name, err)
			os.Exit(1)
		}
		line("joined", *name, map[string]interface{}{"members": list.NumMembers()})
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = list.Leave(time.Second)
	_ = list.Shutdown()
}
