// ToroV's Echo example, in C: a TCP server on 127.0.0.1:50000 that greets
// each client with "This is a Server running as ToroV" and echoes back what
// it receives until the client closes. The port can be given as argv[1].
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void fail(const char *what) {
  perror(what);
  exit(100);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 50000;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) fail("Server : Socket");
  int on = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) fail("Server : Bind");
  if (listen(listener, 1) < 0) fail("Server : Listen");
  printf("Waiting for a client on 127.0.0.1:%d\n", port);
  fflush(stdout);

  struct sockaddr_in client;
  socklen_t len = sizeof client;
  int conn = accept(listener, (struct sockaddr *)&client, &len);
  if (conn < 0) fail("Server : Accept");
  const char *greeting = "This is a Server running as ToroV\n";
  if (send(conn, greeting, strlen(greeting), 0) != (ssize_t)strlen(greeting)) fail("Server : Send");
  char buf[256];
  ssize_t n;
  while ((n = recv(conn, buf, sizeof buf, 0)) > 0) {
    printf("Server : read : %.*s", (int)n, buf);
    if (n && buf[n - 1] != '\n') printf("\n");
    fflush(stdout);
    if (send(conn, buf, n, 0) != n) fail("Server : Send");
  }
  if (n < 0) fail("Server : Recv");
  close(conn);
  close(listener);
  return 0;
}
