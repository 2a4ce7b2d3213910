// wss:// against chat-server with a throwaway PKI made by the openssl CLI:
// a CA, a server certificate for 127.0.0.1/localhost, and one for another
// host. Verification must pass only with the right CA and the right name,
// and a verification failure is final (no retry, no session).
// Skipped for a server without --tls-cert (tether-gin-server: TLS is the
// job of the proxy in front of it).
#include <gtest/gtest.h>

#include <memory>

#include "client_test_support.hpp"

namespace tether::itest {
namespace {

class ClientTls : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!server_has_option("--tls-cert")) return; // SetUp() skips every test
        dir_ = new TempDir();
        ca_ = dir_->file("ca.crt");
        const std::string ec = "ec_paramgen_curve:prime256v1";
        run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", dir_->file("ca.key"),
             "-out", ca_, "-days", "2", "-subj", "/CN=tether itest CA", "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
        issue("server", "subjectAltName=IP:127.0.0.1,DNS:localhost", "1001");
        issue("other", "subjectAltName=DNS:other.example", "1002");
    }
    void SetUp() override { TETHER_REQUIRE_SERVER_OPTION("--tls-cert"); }

    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }

    static void run(const std::vector<std::string>& argv) {
        const ProcessResult r = run_process(argv, scaled(milliseconds(20000)));
        if (r.exit_code != 0 || r.timed_out) {
            std::string cmd;
            for (const auto& a : argv) cmd += a + " ";
            throw std::runtime_error("failed (" + std::to_string(r.exit_code) + "): " + cmd + "\n" + r.output);
        }
    }

    // <name>.key + <name>.crt, signed by the CA, with `san`.
    static void issue(const std::string& name, const std::string& san, const std::string& serial) {
        dir_->write(name + ".ext", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                   "extendedKeyUsage=serverAuth\n" + san + "\n");
        run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", dir_->file(name + ".key"), "-out", dir_->file(name + ".csr"), "-subj", "/CN=" + name});
        run({"openssl", "x509", "-req", "-in", dir_->file(name + ".csr"), "-CA", ca_, "-CAkey", dir_->file("ca.key"),
             "-set_serial", serial, "-days", "2", "-extfile", dir_->file(name + ".ext"), "-out",
             dir_->file(name + ".crt")});
    }

    static std::unique_ptr<ServerProcess> start(const std::string& name) {
        return std::make_unique<ServerProcess>(std::vector<std::string>{
            "--echo", "--tls-cert", dir_->file(name + ".crt"), "--tls-key", dir_->file(name + ".key")});
    }

    static void expect_verify_failure(Client& client, const Recorder& rec) {
        ASSERT_EQ(client.wait_until_terminal(scaled(milliseconds(10000))), State::failed) << rec.summary();
        EXPECT_EQ(client.stats().connect_attempts, 1u);
        EXPECT_EQ(client.stats().connects, 0u);
        EXPECT_TRUE(client.session_id().empty());
        rec.with_lock([](const Recorder& r) {
            ASSERT_FALSE(r.states.empty());
            const StateChange& last = r.states.back().change;
            EXPECT_EQ(last.to, State::failed);
            EXPECT_EQ(last.reason, errc::tls_verify_failed) << last.reason.message() << ": " << last.detail;
            EXPECT_EQ(r.count_states(State::authenticating), 0u);
            EXPECT_EQ(r.count_states(State::ready), 0u);
        });
    }

    static TempDir* dir_;
    static std::string ca_;
};

TempDir* ClientTls::dir_ = nullptr;
std::string ClientTls::ca_;

TEST_F(ClientTls, TrustedCaConnectsAndEchoes) {
    auto server = start("server");
    Recorder rec;
    ClientOptions o = test_options(server->url("wss"), rec);
    o.tls.ca_file = ca_;
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary() << rec.log_tail();
    const SendResult sent = client.send(nlohmann::json{{"hello", "tls"}});
    ASSERT_TRUE(sent);
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [&sent](const Recorder& r) {
        return r.messages.size() == 1 && r.acked_set.count(sent.id) == 1;
    })) << rec.summary();
    rec.with_lock([](const Recorder& r) {
        EXPECT_EQ(r.messages[0].data.at("echo"), (nlohmann::json{{"hello", "tls"}}));
    });
    ASSERT_FALSE(client.close());
    EXPECT_EQ(client.wait_until_terminal(scaled(milliseconds(5000))), State::closed);
}

TEST_F(ClientTls, LocalhostNameAlsoMatches) {
    auto server = start("server");
    Recorder rec;
    ClientOptions o = test_options("wss://localhost:" + std::to_string(server->port()) + "/ws", rec);
    o.tls.ca_file = ca_;
    Client client(o);
    ASSERT_FALSE(client.connect());
    EXPECT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary() << rec.log_tail();
}

TEST_F(ClientTls, UnknownCaFailsWithoutRetry) {
    auto server = start("server");
    Recorder rec;
    ClientOptions o = test_options(server->url("wss"), rec); // system store: does not know our CA
    Client client(o);
    ASSERT_FALSE(client.connect());
    expect_verify_failure(client, rec);
}

TEST_F(ClientTls, CertificateForAnotherHostFails) {
    auto server = start("other");
    Recorder rec;
    ClientOptions o = test_options(server->url("wss"), rec);
    o.tls.ca_file = ca_;
    Client client(o);
    ASSERT_FALSE(client.connect());
    expect_verify_failure(client, rec);
    rec.with_lock([](const Recorder& r) {
        EXPECT_NE(r.states.back().change.detail.find("127.0.0.1"), std::string::npos) << r.states.back().change.detail;
    });
}

} // namespace
} // namespace tether::itest
