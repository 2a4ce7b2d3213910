// Chat: the model behind tether-chat. It owns the tether::Client, turns its
// callbacks and the user's commands into ChatEvents (chat_event.hpp renders
// each as a transcript line, a printed line and a screen row), tracks the
// delivery state of every message we send, and deduplicates room messages by
// their message id.
//
// Room protocol (samples/chat-server, rooms mode): a msg whose data is
// {"room": R, "nick": N, "text": T} joins room R and is relayed to every member
// of R, the sender included, with the frame-level id of the original message.
// tether-chat uses the message id as the identity of a chat line: a message
// the SDK re-sends after a lost session, and a copy relayed twice, is shown
// once.
//
// Room resync. A restarted server has lost its rooms as well as its sessions:
// a client whose session was lost is no longer a member, and what others send
// before it rejoins is relayed without it (acknowledged, so the SDK will not
// send it again). To close that gap, a client announces itself with a
// presence line ({"kind": "join"}, text "") when it first connects and after
// each lost session; every member that sees a peer's join re-sends its own
// last `history` messages with their original ids and answers with
// {"kind": "here"}, which makes the joiner re-send its own in turn. Receivers
// drop the copies by id. Presence lines are not chat messages.
//
// Delivery states of our own messages, from what the SDK reports (state
// changes, on_sent, on_acked, on_failed): queued (in the SDK outbox, not
// written yet), sent (on_sent: its frame went to the socket), acked (the
// server acknowledged it), failed (the SDK gave up; the reason is shown). A
// message that was sent goes back to queued when the session stops being
// ready, and is sent again (attempt 2, 3, ...) when the SDK re-sends it.
//
// Thread safety: every public member may be called from any thread. SDK
// callbacks run on the client's io thread and take the same mutex; the printer
// and on_change hooks are called with that mutex held, so they must not call
// back into the Chat.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat_event.hpp"
#include "format.hpp"
#include "tether/client.hpp"

namespace tchat {

struct ChatOptions {
    std::string url;
    std::string room = "lobby";
    std::string nick;
    std::optional<std::string> token;
    std::optional<Millis> heartbeat;       // SDK default unless set (a server's heartbeat_ms wins)
    std::optional<Millis> connect_timeout; // also used as the hello timeout
    std::optional<Millis> backoff_base;
    std::optional<Millis> backoff_max;
    std::uint32_t max_attempts = 0;        // 0: retry forever
    std::string ca_file;
    bool insecure = false;
    std::size_t history = 1000;            // own messages re-sent on a peer's join; 0 turns resync off
    std::string log_file;                  // SDK log (debug level) appended here
    bool log_stderr = false;               // SDK log (info level) to stderr
};

class Chat {
public:
    using Printer = std::function<void(const std::string& line)>;

    explicit Chat(ChatOptions options);
    ~Chat();
    Chat(const Chat&) = delete;
    Chat& operator=(const Chat&) = delete;

    // Hooks. printer (set it before start()): one human-readable line per
    // event (plain and script modes). on_change (any time): something to redraw.
    void set_printer(Printer printer) { printer_ = std::move(printer); }
    void set_on_change(std::function<void()> f) {
        std::lock_guard<std::mutex> lock(mu_);
        on_change_ = std::move(f);
    }

    // Opens the transcript (empty path: none), creates the client, queues the
    // room join and connects. False with a reason when it cannot.
    bool start(const std::string& transcript_path, std::string& error);

    // Commands. Each returns what to tell the user; `ok` says whether it worked.
    std::string say(const std::string& text, bool& ok);
    std::string drop(bool& ok);
    std::string reconnect(bool& ok);
    std::string set_nick(const std::string& nick, bool& ok);
    std::string stats_text();
    void mark(const std::string& label);
    void note(Entry::Kind kind, const std::string& text); // a screen row only

    // Graceful close: the SDK drains the outbox for up to `drain`, then says bye.
    void begin_close(Millis drain);
    // Blocks until closed/failed or the timeout (not from a callback).
    tether::State wait_terminal(Millis timeout);

    Status status() const;
    std::vector<Entry> last_entries(std::size_t n) const;
    tether::State state() const;

    // Waits until `pred` (called with the chat's mutex held) is true, the
    // deadline passes, or `stop` becomes true. Callbacks wake it; it also
    // re-checks every 50 ms (for predicates on SDK stats).
    bool wait_until(const std::function<bool()>& pred, SteadyClock::time_point deadline,
                    const std::atomic<bool>* stop = nullptr);
    // Predicates for wait_until (call only inside it).
    std::uint64_t received_locked() const { return received_; }
    bool settled_locked() const; // outbox empty and no own message pending
    tether::State state_locked() const { return state_; }

    // Writes the final stats and exit code to the transcript.
    void finish(int exit_code);

private:
    enum class Purpose { chat, presence, resync, join };
    struct Sent {
        Purpose purpose = Purpose::chat;
        std::size_t entry = 0; // chat: index into entries_
    };
    struct Own {
        std::string id;
        std::string data_json; // exactly what was sent, for resync
        std::size_t entry = 0; // index into entries_
    };

    // io thread
    void on_state(const tether::StateChange& c);
    void on_message(const tether::Message& m);
    void on_acked(tether::MessageId local);
    void on_sent(tether::MessageId local);
    void on_failed(tether::MessageId local, const std::string& id, std::error_code ec);
    void on_resumed(const std::string& session);
    void on_session_lost(const tether::SessionLostInfo& info);
    void on_error(std::error_code ec, const std::string& detail);

    // all with mu_ held
    void send_presence_locked(const char* kind);
    void resync_locked(const std::string& peer, const std::string& trigger);
    bool send_locked(const std::string& data_json, const std::string& id, Purpose purpose, std::size_t entry,
                     std::string* error);
    void requeue_locked();
    void forget_locked(tether::MessageId local);
    // Renders `e` to the transcript, the printer and the rows.
    void emit_locked(const ChatEvent& e);
    void changed_locked();
    std::string next_id_locked(const char* tag);
    bool is_own_id(const std::string& id) const { return id.rfind(id_prefix_, 0) == 0; }
    void log_line(tether::LogLevel level, std::string_view message);

    ChatOptions options_;
    Printer printer_;
    std::function<void()> on_change_;
    const SteadyClock::time_point started_ = SteadyClock::now();
    std::string id_prefix_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::ofstream transcript_;
    std::deque<Entry> entries_;
    std::vector<Own> own_;                                // our chat messages, in order
    std::unordered_map<tether::MessageId, Sent> sent_;    // SDK handle -> what it was
    std::deque<tether::MessageId> unacked_;               // handles not yet acked or failed, in send order
    std::set<std::string> seen_;                          // room message ids shown
    std::set<std::string> seen_presence_;
    std::uint64_t next_seq_ = 1;
    tether::State state_ = tether::State::idle;
    std::string reason_, detail_;
    SteadyClock::time_point retry_at_{};
    std::uint32_t attempt_ = 0;
    std::string session_;
    std::uint64_t received_ = 0, duplicates_ = 0, resyncs_ = 0, failed_ = 0, pending_ = 0;
    std::uint64_t other_rooms_ = 0;

    std::mutex log_mu_;
    std::ofstream log_file_;

    std::unique_ptr<tether::Client> client_; // reset first in ~Chat: no callback after that
};

} // namespace tchat
