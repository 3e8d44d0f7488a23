// What a guest leaves behind when it ends: its open files, released so that
// nothing it did can make the thread that lets it go wait (often Node's
// main thread), and so that a socket it left lingering stops lingering, as
// Linux's exit does (a process that exits never lingers).
//
// Closing a file can wait: a TCP socket with SO_LINGER {1, n} sleeps in
// close until its data is acknowledged or n seconds pass, and a file passed
// in SCM_RIGHTS and still in flight in a socket's queue is released when
// that queue goes, by whoever closes the socket. So the files are released
// on a thread of their own (detached: it holds nothing of the process and
// nothing waits for it), after every socket among them, and every socket in
// flight in their unix sockets' queues, has SO_LINGER turned off.
#pragma once

#include <memory>
#include <vector>

namespace torov {

struct OpenFile;

// Releases `files` (the last references to them, or not) without blocking
// the caller. Returns at once.
void ReleaseGuestFiles(std::vector<std::shared_ptr<OpenFile>> files);

// The work itself, on the calling thread (the tests call it directly):
// SO_LINGER off on every socket, in-flight ones drained out of unix socket
// queues first (at most `max_messages` messages in all), then the files
// go. Returns how many in-flight descriptors it found.
int ReleaseGuestFilesNow(std::vector<std::shared_ptr<OpenFile>> files, int max_messages = 65536);

}  // namespace torov
