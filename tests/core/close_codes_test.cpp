// The close codes named in core/close_codes.hpp against the table of
// docs/protocol.md §8: every code a row of that table names ("close **N**")
// is classified by classify_close() as the row's `errc`, and every named
// code but the locally reported 1006 appears in the table. So the header,
// the reaction table and the document cannot drift apart unnoticed.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/close_codes.hpp"
#include "core/reactions.hpp"

namespace {

namespace close_code = tether::core::close_code;
using tether::core::classify_close;
using tether::core::CloseInfo;

struct Row {
    std::vector<std::uint16_t> codes; // close codes the row names
    std::string errc;                 // the first `name` of its last cell; empty: none
    std::string text;
};

std::string read_protocol_md() {
    std::ifstream in(TETHER_DOCS_DIR "/protocol.md");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The numbers written in bold with exactly four digits ("**4008**").
std::vector<std::uint16_t> bold_codes(const std::string& cell) {
    std::vector<std::uint16_t> codes;
    for (auto at = cell.find("**"); at != std::string::npos; at = cell.find("**", at + 2)) {
        const auto close = cell.find("**", at + 2);
        if (close == std::string::npos) break;
        const std::string inner = cell.substr(at + 2, close - at - 2);
        if (inner.size() == 4 && inner.find_first_not_of("0123456789") == std::string::npos)
            codes.push_back(static_cast<std::uint16_t>(std::stoi(inner)));
        at = close;
    }
    return codes;
}

// The first `name` in a cell; empty when there is none.
std::string first_name(const std::string& cell) {
    const auto open = cell.find('`');
    if (open == std::string::npos) return {};
    const auto close = cell.find('`', open + 1);
    return close == std::string::npos ? std::string() : cell.substr(open + 1, close - open - 1);
}

// The rows of §8's table whose first cell names a close code in bold.
std::vector<Row> close_rows(const std::string& doc) {
    const auto begin = doc.find("## 8. Close codes");
    const auto end = doc.find("\n## 9.", begin);
    std::vector<Row> rows;
    if (begin == std::string::npos || end == std::string::npos) return rows;
    std::istringstream lines(doc.substr(begin, end - begin));
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("| close ", 0) != 0) continue;
        Row row;
        row.codes = bold_codes(line.substr(0, line.find(" | ", 2)));
        row.errc = first_name(line.substr(line.rfind(" | ")));
        row.text = line;
        if (!row.codes.empty()) rows.push_back(std::move(row));
    }
    return rows;
}

TEST(CloseCodes, EveryCodeInTheProtocolTableIsClassifiedAsDocumented) {
    const std::vector<Row> rows = close_rows(read_protocol_md());
    ASSERT_GE(rows.size(), 8u) << "docs/protocol.md §8 not found or reshaped";
    std::size_t checked = 0;
    for (const Row& row : rows) {
        if (row.errc.empty()) continue; // e.g. "close 1000 after our bye": no error
        for (std::uint16_t code : row.codes) {
            CloseInfo info;
            info.close_code = code;
            const auto reaction = classify_close(info);
            EXPECT_EQ(tether::errc_name(static_cast<tether::errc>(reaction.reason.value())), row.errc)
                << "close " << code << " in: " << row.text;
            ++checked;
        }
    }
    EXPECT_GE(checked, 12u);
}

TEST(CloseCodes, EveryNamedCodeIsInTheProtocolTable) {
    std::set<std::uint16_t> documented;
    for (const Row& row : close_rows(read_protocol_md())) documented.insert(row.codes.begin(), row.codes.end());
    const std::vector<std::pair<const char*, std::uint16_t>> named = {
        {"normal", close_code::normal},
        {"going_away", close_code::going_away},
        {"protocol_error", close_code::protocol_error},
        {"invalid_payload", close_code::invalid_payload},
        {"message_too_big", close_code::message_too_big},
        {"service_restart", close_code::service_restart},
        {"try_again_later", close_code::try_again_later},
        {"unauthorized", close_code::unauthorized},
        {"token_expired", close_code::token_expired},
        {"forbidden", close_code::forbidden},
        {"bad_frame", close_code::bad_frame},
        {"session_taken_over", close_code::session_taken_over},
    };
    for (const auto& [name, code] : named)
        EXPECT_EQ(documented.count(code), 1u) << "close_code::" << name << " = " << code;
    // 1006 never travels in a close frame: the transport reports it locally.
    EXPECT_EQ(documented.count(close_code::abnormal), 0u);
}

} // namespace
