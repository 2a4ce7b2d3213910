// TLS for wss://: the client context that every connection of a transport
// shares (TLS >= 1.2, the CA store, the client certificate), and the check
// each connection makes of its server (chain, host name, SPKI pins).
// Only tls_context.cpp includes asio/ssl and OpenSSL for this; websocketpp is
// not involved, so the header can be included by websocket_transport.cpp
// alone without a second websocketpp translation unit.
//
// Thread safety: make_tls_context is pure; a PeerVerifier runs on the io
// thread during the handshake; VerifyFailure locks.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tether/options.hpp"

namespace asio::ssl {
class context;
class verify_context;
} // namespace asio::ssl

namespace tether::transport::detail {

// Why the server's certificate was refused: written by the verifier during
// the handshake, read by the fail handler. The first reason is kept.
class VerifyFailure {
public:
    void record(std::string why);
    std::string why() const;

private:
    mutable std::mutex mu_;
    std::string why_;
};

// The context for every wss:// connection of one transport. On failure
// returns nullptr and sets `err`. The options are used as given: the caller
// has checked that they are consistent (cert_file and key_file together).
std::shared_ptr<asio::ssl::context> make_tls_context(const TlsOptions& tls, std::string& err);

// The verify callback of one connection (asio's signature): OpenSSL's chain
// verdict, then the host name (X509_check_host / X509_check_ip), then, on
// the leaf, the SPKI pins if any. A refusal is recorded in `failure`.
class PeerVerifier {
public:
    PeerVerifier(std::string host, std::vector<std::string> pins, std::weak_ptr<VerifyFailure> failure);
    bool operator()(bool preverified, asio::ssl::verify_context& ctx) const;

private:
    std::string host_;
    std::vector<std::string> pins_;
    std::weak_ptr<VerifyFailure> failure_;
};

} // namespace tether::transport::detail
