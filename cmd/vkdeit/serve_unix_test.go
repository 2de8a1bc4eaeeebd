//go:build unix

package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// childArgsEnv carries the vkdeit command line (newline-separated) of a
// test binary re-run as vkdeit itself.
const childArgsEnv = "VKDEIT_TEST_CHILD_ARGS"

// TestServeChild is vkdeit's main in a child process started by a test
// (it skips otherwise): the real signal handling of the real binary.
func TestServeChild(t *testing.T) {
	args := os.Getenv(childArgsEnv)
	if args == "" {
		t.Skip("runs as a child process of TestServeClosedLogPipe only")
	}
	os.Args = append([]string{"vkdeit"}, strings.Split(args, "\n")...)
	main()
}

// TestServeClosedLogPipe: `vkdeit serve 2>&1 | tee log`, then Ctrl-C,
// ends the reader of the log first; the server must still drain, answer
// the request it accepted, and exit 0 (SIGPIPE on the log would kill it).
func TestServeClosedLogPipe(t *testing.T) {
	httpAddr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join([]string{"serve", "--model", tinyDir, "--device", "ref",
		"--http", httpAddr, "--grpc", "off", "--log-format", "text", "--log-level", "debug"}, "\n"))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	w.Close()
	defer cmd.Process.Kill()
	var log strings.Builder
	logDone := make(chan struct{})
	go func() { // the log's reader until the test closes it
		defer close(logDone)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
	}()
	base := "http://" + httpAddr
	waitReady(t, base, func() bool { return false }, func() string { return "" })

	// A request whose body is still on its way when the drain starts.
	_, good := mixedDir(t)
	img, err := os.ReadFile(good[0])
	require.NoError(t, err)
	conn, err := net.Dial("tcp", httpAddr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(img))
	require.NoError(t, err)
	_, err = conn.Write(img[:len(img)/2])
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)

	r.Close() // the log's reader is gone
	<-logDone
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(300 * time.Millisecond) // the drain has logged (into the closed pipe)
	_, err = conn.Write(img[len(img)/2:])
	require.NoError(t, err, "the server is still there")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the accepted request is answered; log so far:\n%s", log.String())
	resp.Body.Close()
	require.Contains(t, []int{200, 503}, resp.StatusCode)

	err = cmd.Wait()
	require.NoError(t, err, "vkdeit exits 0 after draining")
}
