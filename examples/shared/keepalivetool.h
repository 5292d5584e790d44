// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// What the example tools share: the exit codes, reading durations, keepalive
// options and the listening address from the command line (the ranges are the
// library's own validation), printing events as text or one JSON object per
// line, and ending cleanly on SIGINT / SIGTERM.

#include <ConnectionHealth>
#include <EffectiveKeepAliveOptions>
#include <KeepAliveHeartbeat>
#include <KeepAliveOptions>

#include <QtCore/QCommandLineOption>
#include <QtCore/QCommandLineParser>
#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonObject>
#include <QtCore/QMetaEnum>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtNetwork/QHostAddress>

#include <chrono>
#include <optional>

namespace KeepAliveTool {

enum ExitCode {
    ExitOrderly = 0,  //!< the connection ended in an orderly way (or the user stopped the tool)
    ExitDeadPeer = 1, //!< the peer was declared dead, whatever the reason
    ExitUsage = 2,    //!< bad command line: nothing was started
    ExitNetwork = 3,  //!< could not connect, or could not listen
};

//! The exit codes as --help and the README list them.
QString exitCodeHelp(bool server);

//! A command-line value that cannot be used: "--OPTION VALUE: why".
struct UsageError
{
    QString message;
};

//! Whether parseDuration() accepts zero and negative values (for the library to judge).
enum class Sign { Positive, Any };

/*!
    Parses a duration: a number of seconds ("2", "0.5") or a number with a unit
    ("500ms", "1.5s", "2min", "1h"), rounded up to whole milliseconds. Values
    the library takes are range-checked by the library, not here (Sign::Any).
    \a option names the option in the error message.
*/
std::optional<std::chrono::milliseconds> parseDuration(const QString &option, const QString &text,
                                                       UsageError *error,
                                                       Sign sign = Sign::Positive);
/*!
    The value of the duration option \a option for a QTimer: as parseDuration()
    reads it, and at most INT_MAX ms (24.8 days), the longest a QTimer waits.
*/
std::optional<std::chrono::milliseconds>
parseTimerDuration(const QCommandLineParser &parser, const QString &option, UsageError *error);
//! Parses a whole number; \a option names the option in the error message.
std::optional<qint64> parseInteger(const QString &option, const QString &text, UsageError *error);

//! The value of a heartbeat option: INTERVAL[,MAXMISSED].
struct HeartbeatSetting
{
    std::chrono::milliseconds interval;
    std::optional<int> maxMissed; //!< given, clamped to int: the heartbeat judges its range
};
/*!
    Parses --\a option INTERVAL[,MAXMISSED]. Zero and negative values are
    passed on, for KeepAliveHeartbeat's own validation to refuse.
*/
std::optional<HeartbeatSetting> parseHeartbeatSetting(const QString &option, const QString &text,
                                                      UsageError *error);
//! Applies \a setting to \a heartbeat; the heartbeat's message if it rejects a value, else empty.
QString applyHeartbeatSetting(const HeartbeatSetting &setting, KeepAliveHeartbeat *heartbeat);
/*!
    The round-trip times of the \a heartbeats that measured one, for a
    --stats line: ", round trip ms min/median/p90/max A/B/C/D over N", and
    in \a json as roundTripMs; empty (nothing inserted) when none did yet.
*/
QString roundTripSummary(const QList<const KeepAliveHeartbeat *> &heartbeats, QJsonObject *json);

/*!
    Reads a payload given on the command line: the text as UTF-8, with the
    escapes \\n, \\r, \\t, \\\\ and \\xHH. Empty payloads are refused.
*/
std::optional<QByteArray> parsePayload(const QString &option, const QString &text,
                                       UsageError *error);
//! A payload for printing: printable ASCII as it is, everything else escaped, quoted.
QString quoted(const QByteArray &payload);

//! The options --address (also --listen) and --port, \a defaultPort named in the help.
QList<QCommandLineOption> listenCommandLineOptions(quint16 defaultPort);
/*!
    Reads the options \a addressOption and --port into \a address and \a port,
    which keep their values when an option is not given.
*/
std::optional<UsageError> parseListen(const QCommandLineParser &parser,
                                      const QString &addressOption, QHostAddress *address,
                                      quint16 *port);
//! "127.0.0.1:80", "[::1]:80".
QString endpoint(const QHostAddress &address, quint16 port);

//! The options -d/--idle, -i/--interval, -c/--count and -u/--user-timeout.
QList<QCommandLineOption> keepAliveCommandLineOptions();
/*!
    Builds the keepalive options from the command line. Every value is checked
    by KeepAliveOptions::validationError() as soon as it is set, so that the
    message names the option that made the options invalid.
*/
std::optional<KeepAliveOptions> keepAliveOptionsFromCommandLine(const QCommandLineParser &parser,
                                                                UsageError *error);

/*!
    Adds \a options to \a parser and parses the command line (no help or
    version handling). Returns an error for unknown options, missing values
    and any of \a options given more than once, under any of its names.
*/
std::optional<UsageError> parseCommandLine(QCommandLineParser &parser,
                                           const QList<QCommandLineOption> &options,
                                           const QStringList &arguments);

/*!
    parseCommandLine(), then what ends a tool before it starts: a bad command
    line (printed, ExitUsage), --help and --version (printed, ExitOrderly).
    Returns the exit code for main() then, nothing when the tool is to run.
*/
std::optional<int> handleCommandLine(QCommandLineParser &parser,
                                     const QList<QCommandLineOption> &options,
                                     const QStringList &arguments);

//! "1 s", "1.5 s", "250 ms"; "none" for milliseconds::max().
QString formatDuration(std::chrono::milliseconds duration);
//! A measured time, in seconds with three decimals: "3.081 s".
QString formatSeconds(qint64 milliseconds);
//! A value of a QtKeepAlive enum or ConnectionHealth::TcpState as its name.
template<typename Enum>
QString enumName(Enum value)
{
    return QString::fromLatin1(QMetaEnum::fromType<Enum>().valueToKey(int(value)));
}

QString describe(const KeepAliveOptions &options);
//! The fields the kernel holds; fields the platform cannot read back are listed as such.
QString describe(const EffectiveKeepAliveOptions &effective);
QString describe(const ConnectionHealth &health);
//! The fields of KeepAliveOptions::readableFields() that are missing from \a effective.
QStringList unreadFields(const EffectiveKeepAliveOptions &effective);

QJsonObject toJson(const KeepAliveOptions &options);
QJsonObject toJson(const EffectiveKeepAliveOptions &effective);
QJsonObject toJson(const ConnectionHealth &health);

/*!
    Writes events to stdout, flushed line by line: as text ("12:00:03.081
    +3.081 s  text") or, with --json, one JSON object per line with "event",
    "time" (UTC, ISO 8601 with milliseconds), "elapsed" (seconds since the
    start) and the event's fields. With --quiet only essential events are
    written.
*/
class Output
{
public:
    Output(bool json, bool quiet);

    //! An event of the run. Text lines carry the time and the elapsed time.
    void event(const QString &name, const QString &text, QJsonObject fields = {},
               bool essential = false);
    //! A line of the set-up (options, bounds): text without a time stamp.
    void setting(const QString &name, const QString &text, QJsonObject fields = {});

    qint64 elapsed() const { return m_clock.elapsed(); }
    bool isJson() const { return m_json; }

private:
    void write(const QString &line);

    QElapsedTimer m_clock;
    bool m_json;
    bool m_quiet;
};

//! Writes "program: message" as one line on stderr.
void printError(const QString &message);
/*!
    Prints \a parser's help text on stdout and returns ExitOrderly. Not
    QCommandLineParser::showHelp(): on Windows, in a process without a
    console (a service, a program run by another without one, Wine headless),
    that shows a message box instead and the text never reaches the output.
*/
int printHelp(const QCommandLineParser &parser);
//! Prints "program version" on stdout and returns ExitOrderly (see printHelp()).
int printVersion();
//! Prints \a error as printError() does and returns ExitUsage, for main()'s return.
int usage(const UsageError &error);

/*!
    Names the running tool and its version (the library's), and switches the
    library's log off: the tools print every refusal, loss and death
    themselves (QT_LOGGING_RULES brings the log back).
*/
void setUpTool(const QString &name);

/*!
    Turns SIGINT and SIGTERM into the signal stopRequested() in the event
    loop (a self-pipe read by a QSocketNotifier); on Windows the console's
    Ctrl+C, Ctrl+Break and close events (SetConsoleCtrlHandler(), whose
    handler runs in a thread of its own: queued to the event loop). One
    instance per process.
*/
class StopSignals : public QObject
{
    Q_OBJECT
public:
    explicit StopSignals(QObject *parent = nullptr);
    ~StopSignals() override;

Q_SIGNALS:
    //! \a name is "SIGINT", "SIGTERM", "CTRL_C_EVENT", "CTRL_BREAK_EVENT" or "CTRL_CLOSE_EVENT".
    void stopRequested(const QString &name);
};

} // namespace KeepAliveTool
