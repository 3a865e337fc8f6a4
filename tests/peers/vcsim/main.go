// Command vcsim is event-router's vCenter test peer: govmomi's simulator
// plus a small control API that makes it emit real events on demand.
// See README.md for the CLI, the ready line and the control API.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	port := flag.Int("port", 0, "port for /sdk on 127.0.0.1 (0: ephemeral)")
	controlPort := flag.Int("control-port", 0, "port for the control API on 127.0.0.1 (0: ephemeral)")
	certFile := flag.String("tls-cert", "", "PEM certificate: serve /sdk over https")
	keyFile := flag.String("tls-key", "", "PEM private key for -tls-cert")
	genCert := flag.String("gen-cert", "", "write DIR/cert.pem and DIR/key.pem (RSA-2048, 127.0.0.1/localhost), print their paths as JSON and exit")
	stdinEOF := flag.Bool("exit-on-stdin-eof", false, "exit when stdin closes (the parent died)")
	lifetime := flag.Duration("lifetime", 0, "exit after this long (0: no limit)")
	username := flag.String("username", "", "accept only this user (with -password)")
	password := flag.String("password", "", "accept only this password (with -username)")
	flag.Parse()

	if *genCert != "" {
		cert, key, err := generateCert(*genCert)
		if err != nil {
			fail("gen-cert: %v", err)
		}
		printJSON(map[string]string{"cert": cert, "key": key})
		return
	}

	var tlsConfig *tls.Config
	if *certFile != "" || *keyFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail("tls: %v", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}

	var login *url.Userinfo
	if *username != "" {
		login = url.UserPassword(*username, *password)
	}
	s, err := startSim(*port, tlsConfig, login)
	if err != nil {
		fail("simulator: %v", err)
	}
	defer s.close()

	ctx := context.Background()
	vc, err := newVcenter(ctx, s)
	if err != nil {
		s.close()
		fail("%v", err)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*controlPort)))
	if err != nil {
		s.close()
		fail("control listen: %v", err)
	}
	ctl := &control{vc: vc, sim: s, shutdown: make(chan struct{})}
	controlServer := &http.Server{Handler: ctl.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = controlServer.Serve(ln) }()
	defer controlServer.Close()

	ready := map[string]interface{}{
		"url":      s.sdkURL.String(),
		"username": s.username,
		"password": s.password,
		"control":  "http://" + ln.Addr().String(),
		"pid":      os.Getpid(),
	}
	if tlsConfig != nil {
		ready["cert"] = *certFile
	}
	printJSON(ready)

	waitForExit(ctl.shutdown, *stdinEOF, *lifetime)
}

// waitForExit blocks until a signal, /shutdown, stdin EOF or the lifetime,
// so the deferred closes run (they remove the simulator's temp datastores).
func waitForExit(shutdown <-chan struct{}, stdinEOF bool, lifetime time.Duration) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	stdinClosed := make(chan struct{})
	if stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stdinClosed)
		}()
	}
	var expired <-chan time.Time
	if lifetime > 0 {
		expired = time.After(lifetime)
	}
	select {
	case <-signals:
	case <-shutdown:
		// Let the /shutdown response reach the caller.
		time.Sleep(50 * time.Millisecond)
	case <-stdinClosed:
	case <-expired:
		fmt.Fprintln(os.Stderr, "vcsim: lifetime expired")
	}
}

func printJSON(v interface{}) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "vcsim: "+format+"\n", args...)
	os.Exit(1)
}
