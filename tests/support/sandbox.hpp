// Sandboxes for tests that need a file system to misbehave: a private tmpfs
// of a given size, and a forked child to run it in (a mount namespace can
// only be entered by a single-threaded process). Linux; as root.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>

namespace tether::test {

// A tmpfs of `bytes` mounted at `dir` for the object's lifetime. The test
// process first gets its own mount namespace, so the mount vanishes with the
// process whatever happens. error(): why it could not be mounted (skip).
class Tmpfs {
public:
    Tmpfs(const std::string& dir, std::size_t bytes) : dir_(dir) {
        const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
        if (::unshare(CLONE_NEWNS) != 0)
            error_ = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
        else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            error_ = std::string("mount --make-rprivate /: ") + std::strerror(errno);
        else if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0)
            error_ = "mount -t tmpfs: " + std::string(std::strerror(errno));
    }
    ~Tmpfs() {
        if (error_.empty()) ::umount2(dir_.c_str(), MNT_DETACH);
    }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;
    const std::string& error() const { return error_; }

private:
    std::string dir_;
    std::string error_;
};

// Runs `body` in a forked child; returns what it wrote to the pipe (one
// report, at most 4 KiB) and its exit status. The child never returns into
// the test framework.
struct ChildResult {
    std::string report;
    int status = 0;
};
inline ChildResult run_child(const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe(fds) != 0) return {"pipe failed", -1};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        const std::string out = body();
        ssize_t ignored = ::write(fds[1], out.data(), out.size());
        (void)ignored;
        ::_exit(0);
    }
    ::close(fds[1]);
    ChildResult r;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.report.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    ::waitpid(pid, &r.status, 0);
    return r;
}

// Writes `path` until the file system refuses more: a full disk.
inline void fill_file_system(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const std::string block(4096, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
}

} // namespace tether::test
