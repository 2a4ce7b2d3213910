// Helpers for the store tests: a temporary directory, whole-file reads and
// writes, a private tmpfs, and a fork helper whose child reports one line.
//
// Thread safety: none; each test uses its own objects on its own thread.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "../support/sandbox.hpp"
#include "persist/store.hpp"

namespace tether::persist::test {

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "tether-persist-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

inline std::string read_file(const std::string& path) {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
}

inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

inline unsigned mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return static_cast<unsigned>(st.st_mode & 07777);
}

inline Store::Opened open_ok(const std::string& path, Durability d = Durability::normal) {
    auto opened = Store::open(StoreOptions{path, d});
    if (!opened) ADD_FAILURE() << "open " << path << ": " << opened.detail();
    return opened ? std::move(opened.value()) : Store::Opened{};
}

inline void commit_ok(Store& store) {
    auto c = store.commit();
    ASSERT_TRUE(c) << c.detail();
}

using tether::test::ChildResult;
using tether::test::run_child;
using tether::test::Tmpfs;

// The name of an error code, for messages and comparisons.
inline std::string code_name(const std::error_code& ec) {
    if (!ec) return "ok";
    if (ec.category() == tether::error_category()) return errc_name(static_cast<errc>(ec.value()));
    return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}

} // namespace tether::persist::test
