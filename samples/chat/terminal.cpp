// Interactive and plain line modes.
//
// Interactive: the terminal goes into non-canonical, no-echo mode (termios)
// on the alternate screen. The layout is a header row, the conversation, a
// status row and the input row; the whole frame is rebuilt from the Chat's
// state and written only when it changed. SDK callbacks wake the loop through
// a self-pipe; the loop polls stdin and that pipe, and ticks every 100 ms so
// the backoff countdown moves.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "modes.hpp"

namespace tchat {

std::atomic<bool> g_interrupted{false};

namespace {

int g_wake_fd = -1; // write end of the self-pipe; -1 when there is none

void on_signal(int) {
    g_interrupted.store(true);
    if (g_wake_fd >= 0) {
        const char c = 's';
        [[maybe_unused]] auto n = ::write(g_wake_fd, &c, 1);
    }
}

void on_winch(int) {
    if (g_wake_fd >= 0) {
        const char c = 'w';
        [[maybe_unused]] auto n = ::write(g_wake_fd, &c, 1);
    }
}

} // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, nullptr);
}

void print_line(const std::string& line) {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    std::cout << line << std::endl;
}

int outcome(Chat& chat) {
    const Status s = chat.status();
    if (g_interrupted.load()) return 130;
    if (s.state == tether::State::failed) return 3;
    if (s.failed > 0) return 4;
    return 0;
}

namespace {

constexpr const char* kHelp =
    "commands: /drop (cut the transport like a network failure) · /reconnect (skip the backoff wait) · "
    "/stats · /status · /nick NEW · /quit · //text sends a line starting with /";

bool terminal_state(tether::State s) { return s == tether::State::closed || s == tether::State::failed; }

// One line of user input: a command or a message. Returns false on /quit.
bool handle_line(Chat& chat, const std::string& line, const std::function<void(Entry::Kind, const std::string&)>& tell) {
    if (line.empty()) return true;
    bool ok = false;
    if (line[0] != '/' || line.rfind("//", 0) == 0) {
        const std::string text = line[0] == '/' ? line.substr(1) : line;
        const std::string r = chat.say(text, ok);
        if (!ok) tell(Entry::Kind::error, r);
        return true;
    }
    std::string cmd = line;
    std::string arg;
    if (const auto sp = line.find(' '); sp != std::string::npos) {
        cmd = line.substr(0, sp);
        const auto start = line.find_first_not_of(' ', sp);
        if (start != std::string::npos) arg = line.substr(start);
    }
    if (cmd == "/quit" || cmd == "/exit") return false;
    if (cmd == "/drop") {
        const std::string r = chat.drop(ok);
        tell(ok ? Entry::Kind::info : Entry::Kind::error, r);
    } else if (cmd == "/reconnect") {
        const std::string r = chat.reconnect(ok);
        tell(ok ? Entry::Kind::info : Entry::Kind::error, r);
    } else if (cmd == "/stats") {
        tell(Entry::Kind::info, chat.stats_text());
    } else if (cmd == "/status") {
        const Status s = chat.status();
        tell(Entry::Kind::info, "status: " + state_phrase(s, SteadyClock::now()) + " | " + counters_phrase(s) +
                                    " | session " + (s.session.empty() ? "-" : s.session));
    } else if (cmd == "/nick") {
        const std::string r = chat.set_nick(arg, ok);
        tell(ok ? Entry::Kind::info : Entry::Kind::error, r);
    } else if (cmd == "/help") {
        tell(Entry::Kind::info, kHelp);
    } else {
        tell(Entry::Kind::error, "unknown command " + sanitize(cmd) + " (try /help)");
    }
    return true;
}

// ---- drawing -----------------------------------------------------------------------

struct Seg {
    std::string style; // ANSI SGR sequence, "" for default
    std::string text;  // sanitized
};
using Styled = std::vector<Seg>;

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

std::size_t width_of(const std::string& s) {
    std::size_t n = 0;
    for (char c : s)
        if (!continuation(c)) ++n;
    return n;
}

// Splits styled text into rows of at most `width` code points; rows after
// the first are indented by `indent`.
std::vector<std::string> wrap(const Styled& line, std::size_t width, std::size_t indent) {
    if (indent * 2 >= width) indent = 0;
    std::vector<std::string> rows;
    std::string row;
    std::size_t used = 0;
    for (const Seg& seg : line) {
        row += seg.style;
        for (std::size_t i = 0; i < seg.text.size();) {
            std::size_t len = 1;
            while (i + len < seg.text.size() && continuation(seg.text[i + len])) ++len;
            if (used == width) {
                rows.push_back(row + "\x1b[0m");
                row = std::string(indent, ' ') + seg.style;
                used = indent;
            }
            row.append(seg.text, i, len);
            ++used;
            i += len;
        }
        row += "\x1b[0m";
    }
    rows.push_back(row);
    return rows;
}

std::string clock_of(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d ", tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

constexpr const char* kDim = "\x1b[2m";
constexpr const char* kBoldCyan = "\x1b[1;36m";
constexpr const char* kBoldMagenta = "\x1b[1;35m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kCyan = "\x1b[36m";

Styled render(const Entry& e) {
    Styled out{{kDim, clock_of(e.when)}};
    switch (e.kind) {
    case Entry::Kind::own: {
        out.push_back({kBoldCyan, sanitize(e.nick)});
        out.push_back({"", ": " + sanitize(e.text) + "  "});
        const std::string again = e.attempts > 1 ? " (attempt " + std::to_string(e.attempts) + ")" : "";
        switch (e.delivery) {
        case Delivery::queued: out.push_back({kDim, "\u2026 queued" + again}); break;
        case Delivery::sent: out.push_back({kYellow, "\u2192 sent" + again}); break;
        case Delivery::acked: out.push_back({kGreen, "\u2713 acked"}); break;
        case Delivery::failed: out.push_back({kRed, "\u2717 failed: " + sanitize(e.reason)}); break;
        }
        break;
    }
    case Entry::Kind::peer:
        out.push_back({kBoldMagenta, sanitize(e.nick)});
        out.push_back({"", ": " + sanitize(e.text)});
        break;
    case Entry::Kind::info: out.push_back({kCyan, "* " + sanitize(e.text)}); break;
    case Entry::Kind::warn: out.push_back({kYellow, "! " + sanitize(e.text)}); break;
    case Entry::Kind::error: out.push_back({kRed, "\u2717 " + sanitize(e.text)}); break;
    }
    return out;
}

std::string fit(const std::string& plain, std::size_t width) {
    std::string out;
    std::size_t used = 0;
    for (std::size_t i = 0; i < plain.size() && used < width;) {
        std::size_t len = 1;
        while (i + len < plain.size() && continuation(plain[i + len])) ++len;
        out.append(plain, i, len);
        ++used;
        i += len;
    }
    out.append(width - used, ' ');
    return out;
}

const char* status_colors(tether::State s) {
    switch (s) {
    case tether::State::ready: return "\x1b[42;30m";
    case tether::State::failed:
    case tether::State::closed: return "\x1b[41;97m";
    case tether::State::idle:
    case tether::State::closing: return "\x1b[44;97m";
    default: return "\x1b[43;30m";
    }
}

std::string frame(Chat& chat, const ChatOptions& opts, const std::string& input, std::size_t rows, std::size_t cols) {
    const Status s = chat.status();
    std::string out = "\x1b[?25l";
    auto put_row = [&](std::size_t row, const std::string& content) {
        out += "\x1b[" + std::to_string(row) + ";1H" + content + "\x1b[0m\x1b[K";
    };
    // header
    put_row(1, "\x1b[7m" + fit(" tether-chat \u00b7 #" + sanitize(opts.room) + " \u00b7 you are " + sanitize(s.nick) +
                                   " \u00b7 " + sanitize(opts.url) + " \u00b7 /help",
                               cols));
    // status: one row, or two when the state and the counters do not fit on one
    const std::string state_text = " \u25cf " + sanitize(state_phrase(s, SteadyClock::now()));
    const std::string counters_text = counters_phrase(s);
    std::vector<std::string> status_rows;
    if (width_of(state_text) + 4 + width_of(counters_text) <= cols) {
        status_rows.push_back(state_text + "  \u2502 " + counters_text);
    } else {
        status_rows.push_back(state_text);
        status_rows.push_back("   " + counters_text);
    }
    // conversation
    const std::size_t fixed = 2 + status_rows.size();
    const std::size_t body = rows > fixed ? rows - fixed : 0;
    std::vector<std::string> lines;
    for (const Entry& e : chat.last_entries(body + 50)) {
        for (auto& r : wrap(render(e), cols, 9)) lines.push_back(std::move(r));
    }
    const std::size_t first = lines.size() > body ? lines.size() - body : 0;
    const std::size_t shown = lines.size() - first;
    for (std::size_t r = 0; r < body; ++r) {
        const std::size_t pad = body - shown;
        put_row(2 + r, r < pad ? std::string() : lines[first + r - pad]);
    }
    for (std::size_t i = 0; i < status_rows.size() && rows > status_rows.size(); ++i)
        put_row(rows - status_rows.size() + i, std::string(status_colors(s.state)) + fit(status_rows[i], cols));
    // input: show the tail that fits
    const std::size_t room = cols > 3 ? cols - 3 : 1;
    std::string visible = input;
    while (width_of(visible) > room) {
        std::size_t cut = 1;
        while (cut < visible.size() && continuation(visible[cut])) ++cut;
        visible.erase(0, cut);
    }
    put_row(rows, "> " + visible);
    out += "\x1b[" + std::to_string(rows) + ";" + std::to_string(3 + width_of(visible)) + "H\x1b[?25h";
    return out;
}

void write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        off += static_cast<std::size_t>(n);
    }
}

class RawTerminal {
public:
    bool enter() {
        if (tcgetattr(STDIN_FILENO, &saved_) != 0) return false;
        termios raw = saved_;
        raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);
        raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return false;
        active_ = true;
        write_all(STDOUT_FILENO, "\x1b[?1049h\x1b[2J");
        return true;
    }
    ~RawTerminal() {
        if (!active_) return;
        write_all(STDOUT_FILENO, "\x1b[0m\x1b[?25h\x1b[?1049l");
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    }

private:
    termios saved_{};
    bool active_ = false;
};

struct Pipe {
    int fds[2] = {-1, -1};
    Pipe() {
        if (::pipe(fds) == 0) {
            for (int fd : fds) {
                ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
                ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
    }
    ~Pipe() {
        if (g_wake_fd == fds[1]) g_wake_fd = -1;
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
    }
    void drain() const {
        char buf[64];
        while (::read(fds[0], buf, sizeof buf) > 0) {
        }
    }
};

} // namespace

int run_interactive(Chat& chat, const RunConfig& config, const ChatOptions& opts) {
    static Pipe wake; // lives until exit: the signal handler may still write to it
    if (wake.fds[0] < 0) return run_plain(chat, config);
    g_wake_fd = wake.fds[1];
    chat.set_on_change([fd = wake.fds[1]] {
        const char c = 'c';
        [[maybe_unused]] auto n = ::write(fd, &c, 1);
    });
    struct sigaction sa {};
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, nullptr);

    RawTerminal term;
    if (!term.enter()) return run_plain(chat, config);

    std::string input;
    int esc = 0; // 0: none, 1: after ESC, 2: inside CSI/SS3
    bool closing = false;
    SteadyClock::time_point close_deadline{};
    std::string last_frame;

    auto tell = [&chat](Entry::Kind kind, const std::string& text) { chat.note(kind, text); };
    auto begin_quit = [&] {
        if (closing) return;
        closing = true;
        const tether::State st = chat.state();
        if (!terminal_state(st)) {
            chat.note(Entry::Kind::info, "closing: waiting up to " + std::to_string(config.drain.count()) +
                                             " ms for the server to acknowledge what is pending");
            chat.begin_close(config.drain);
        }
        close_deadline = SteadyClock::now() + config.drain + Millis(3000);
    };

    chat.note(Entry::Kind::info, kHelp);
    for (;;) {
        if (g_interrupted.load()) begin_quit();
        if (closing && (terminal_state(chat.state()) || SteadyClock::now() >= close_deadline)) break;

        winsize ws{};
        std::size_t rows = 24, cols = 80;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
            rows = ws.ws_row;
            cols = ws.ws_col;
        }
        std::string f = frame(chat, opts, input, rows, cols);
        if (f != last_frame) {
            write_all(STDOUT_FILENO, f);
            last_frame = std::move(f);
        }

        // Once closing, input is ignored (and a hung-up terminal must not spin the loop).
        pollfd fds[2] = {{closing ? -1 : STDIN_FILENO, POLLIN, 0}, {wake.fds[0], POLLIN, 0}};
        const int n = ::poll(fds, 2, 100);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (fds[1].revents & POLLIN) wake.drain();
        if (fds[0].revents & (POLLHUP | POLLERR)) begin_quit();
        if (!(fds[0].revents & POLLIN)) continue;
        char buf[512];
        const ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
        if (got == 0) begin_quit();
        for (ssize_t i = 0; i < got; ++i) {
            const auto c = static_cast<unsigned char>(buf[i]);
            if (esc == 1) {
                esc = (c == '[' || c == 'O') ? 2 : 0;
                continue;
            }
            if (esc == 2) {
                if (c >= 0x40 && c <= 0x7e) esc = 0;
                continue;
            }
            if (c == 0x1b) {
                esc = 1;
            } else if (c == '\r' || c == '\n') {
                const std::string line = input;
                input.clear();
                if (closing) continue;
                if (!handle_line(chat, line, tell)) begin_quit();
            } else if (c == 0x7f || c == 0x08) {
                while (!input.empty() && continuation(input.back())) input.pop_back();
                if (!input.empty()) input.pop_back();
            } else if (c == 0x15) { // Ctrl-U
                input.clear();
            } else if (c == 0x04) { // Ctrl-D
                if (input.empty()) begin_quit();
            } else if (c == 0x0c) { // Ctrl-L
                last_frame.clear();
                write_all(STDOUT_FILENO, "\x1b[2J");
            } else if (c >= 0x20) {
                if (input.size() < 4000) input += static_cast<char>(c);
            }
        }
    }
    chat.set_on_change({});
    return outcome(chat);
}

// ---- plain line mode -----------------------------------------------------------------

int run_plain(Chat& chat, const RunConfig& config) {
    auto tell = [](Entry::Kind kind, const std::string& text) {
        print_line(std::string(kind == Entry::Kind::error ? "error: " : "") + text);
    };
    tell(Entry::Kind::info, kHelp);
    std::string pending;
    bool open = true;
    while (open && !g_interrupted.load()) {
        pollfd pfd{STDIN_FILENO, POLLIN, 0};
        const int n = ::poll(&pfd, 1, 100);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        char buf[512];
        const ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
        if (got <= 0) break; // end of input: quit
        pending.append(buf, static_cast<std::size_t>(got));
        std::size_t nl;
        while (open && (nl = pending.find('\n')) != std::string::npos) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            open = handle_line(chat, line, tell);
        }
    }
    if (!terminal_state(chat.state())) {
        chat.begin_close(config.drain);
        chat.wait_terminal(config.drain + Millis(3000));
    }
    return outcome(chat);
}

} // namespace tchat
