package main

import (
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
)

// sim owns the simulated vCenter: its model (inventory, events, sessions)
// and the HTTP server that exposes /sdk. We serve the simulator's handler
// ourselves, rather than keep the server NewServer starts, so that a restart
// can drop every connection at once (including long polls) and listen again
// on the same port.
type sim struct {
	model     *simulator.Model
	tlsConfig *tls.Config // nil: plain HTTP
	addr      string      // 127.0.0.1:PORT, fixed for the process lifetime
	sdkURL    url.URL     // without credentials
	username  string
	password  string

	mu     sync.Mutex
	server *http.Server
}

func startSim(port int, tlsConfig *tls.Config, login *url.Userinfo) (*sim, error) {
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		return nil, fmt.Errorf("create model: %w", err)
	}
	// With a login the simulator accepts only that user and password (InvalidLogin otherwise);
	// without one it accepts any non-empty pair.
	model.Service.Listen = &url.URL{Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), User: login}
	// NewServer chooses https only when Service.TLS is set.
	if tlsConfig != nil {
		model.Service.TLS = tlsConfig.Clone()
	}
	started := model.Service.NewServer()
	s := &sim{
		model:     model,
		tlsConfig: tlsConfig,
		addr:      started.URL.Host,
		sdkURL:    *started.URL,
	}
	s.username = started.URL.User.Username()
	s.password, _ = started.URL.User.Password()
	s.sdkURL.User = nil
	// Nobody has connected yet, so this returns at once and frees the port.
	started.Close()
	if err := s.listen(); err != nil {
		model.Remove()
		return nil, err
	}
	return s, nil
}

// listen serves the simulator's handler on s.addr. The port was just freed by
// this process, so retry briefly while the kernel releases it.
func (s *sim) listen() error {
	var ln net.Listener
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		ln, err = net.Listen("tcp", s.addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.addr, err)
	}
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	srv := &http.Server{
		Handler:           gated(s.model.Service.ServeMux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(discard{}, "", 0),
	}
	s.mu.Lock()
	s.server = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// stopServing closes the listener and every connection, active or idle,
// without waiting for handlers: that is what clients see when vCenter dies.
func (s *sim) stopServing() {
	s.mu.Lock()
	srv := s.server
	s.server = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (s *sim) close() {
	s.stopServing()
	s.model.Remove()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
