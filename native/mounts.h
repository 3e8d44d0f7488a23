// Detached bind mounts: the roots of the manifest's Mounts (native/paths.h).
//
// A mount is a clone of the source's own mount (open_tree with
// OPEN_TREE_CLONE, not recursive: what the host mounts below the source, a
// /proc or a /sys, is not lent with it) attached nowhere: only the fd names it, so it changes
// nothing in the host's or anyone's mount table, and it goes away with its
// last fd. A read-only one is made read-only with mount_setattr, which the
// kernel then enforces for every write through it (open for writing,
// truncate, chmod, chown, utimes, link, rename, unlink, mknod, xattrs,
// shared writable mappings): EROFS.
//
// Both calls need CAP_SYS_ADMIN over the mount namespace. As root torov
// makes the mount itself; otherwise a short-lived helper process does, in a
// user namespace and mount namespace of its own (where it has that
// capability), and sends the fd back. The helper is forked from a
// multi-threaded process, so it makes only raw system calls until it exits.
#pragma once

#include <string>

namespace torov {

// An O_PATH-like fd for the root of a detached bind mount of `source`
// (read-only, nosuid, nodev when `read_only`; nosuid and nodev always), or
// -errno. *how says how it was made ("root", "user namespace").
int DetachedMount(const std::string& source, bool read_only, std::string* how);

// Whether the file system of `fd` is one torov never lends (proc, sys,
// debugfs, tracefs, securityfs, bpf, cgroup, efivarfs): the host's
// processes and kernel, not files. Its name in *name.
bool PseudoFileSystem(int fd, std::string* name);

}  // namespace torov
