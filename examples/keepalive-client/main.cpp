// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// keepalive-client: connects to HOST:PORT with the keepalive options given on
// the command line, prints what it asked for, what the kernel really holds and
// the detection bound, then one line per event until the connection ends, and
// at a death the reason, the message, the time it took against the bound and
// the kernel's TCP_INFO at that moment. Exit codes: see exitCodeHelp().

#include "../shared/keepalivetool.h"

#include <KeepAliveHeartbeat>
#include <KeepAliveSocket>
#include <KeepAliveSslSocket>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonArray>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslCipher>
#include <QtNetwork/QSslConfiguration>

#include <optional>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace KeepAliveTool;

namespace {

struct Target
{
    QString host;
    quint16 port = 0;
    QString text() const
    {
        return host.contains(QLatin1Char(':')) ? QStringLiteral("[%1]:%2").arg(host).arg(port)
                                               : QStringLiteral("%1:%2").arg(host).arg(port);
    }
};

// "host:port", "192.0.2.1:port" or "[2001:db8::1]:port".
std::optional<Target> parseTarget(const QString &text, UsageError *error)
{
    Target target;
    QString portText;
    if (text.startsWith(QLatin1Char('['))) {
        const qsizetype close = text.indexOf(QLatin1String("]:"));
        target.host = text.mid(1, close - 1);
        portText = text.mid(close + 2);
        if (close < 0 || QHostAddress(target.host).protocol() != QAbstractSocket::IPv6Protocol) {
            *error = {QStringLiteral("HOST:PORT \"%1\": expected [IPv6 ADDRESS]:PORT").arg(text)};
            return std::nullopt;
        }
    } else {
        const qsizetype colon = text.lastIndexOf(QLatin1Char(':'));
        target.host = text.left(colon);
        portText = text.mid(colon + 1);
        if (colon <= 0 || target.host.contains(QLatin1Char(':'))) {
            *error = {
                    QStringLiteral("HOST:PORT \"%1\": expected HOST:PORT (IPv6 as [ADDRESS]:PORT)")
                            .arg(text)};
            return std::nullopt;
        }
    }
    bool ok = false;
    const uint port = portText.toUInt(&ok);
    if (!ok || port < 1 || port > 65535) {
        *error = {QStringLiteral("HOST:PORT \"%1\": port \"%2\" is not in 1..65535")
                          .arg(text, portText)};
        return std::nullopt;
    }
    target.port = quint16(port);
    return target;
}

struct Settings
{
    Target target;
    KeepAliveOptions options;
    std::optional<milliseconds> heartbeatInterval;
    int maxMissed = 3;
    // The classic ping; keepalive-server answers "OK".
    QByteArray ping = QByteArrayLiteral("HeartBeat");
    std::optional<milliseconds> sendEvery;
    milliseconds connectTimeout = 10s;
    bool json = false;
    bool quiet = false;
    //! TLS: set for --tls; the CA certificates to trust (--ca; empty: the system's).
    bool tls = false;
    QList<QSslCertificate> caCertificates;
    bool insecure = false;
    QString serverName; //!< --sni; empty: the host
};

class Client : public QObject
{
    // Calls \a function with the library's socket as the class it is.
    template<typename Function>
    decltype(auto) withLibrarySocket(Function &&function) const
    {
        return m_tls ? function(m_tls) : function(m_plain);
    }

public:
    Client(const Settings &settings, Output &out) : m_settings(settings), m_out(out)
    {
        if (settings.tls)
            m_socket = m_tls = createTlsSocket();
        else
            m_socket = m_plain = new KeepAliveSocket(this);
        withLibrarySocket([&](auto *socket) {
            using Socket = std::remove_pointer_t<decltype(socket)>;
            socket->setKeepAliveOptions(settings.options); // validated while parsing
            connect(socket, &Socket::deadPeer, this, &Client::onDeadPeer);
            connect(socket, &Socket::keepAliveErrorOccurred, this, [this, socket] {
                m_out.event(QStringLiteral("option-refused"),
                            QStringLiteral("the kernel refused an option: %1")
                                    .arg(socket->keepAliveErrorString()),
                            {{QStringLiteral("message"), socket->keepAliveErrorString()}}, true);
            });
        });
        connect(m_socket, &QAbstractSocket::connected, this, &Client::onConnected);
        connect(m_socket, &QIODevice::readyRead, this, &Client::onReadyRead);
        connect(m_socket, &QAbstractSocket::errorOccurred, this, &Client::onError);
        connect(m_socket, &QAbstractSocket::disconnected, this, &Client::onDisconnected);
        m_connectTimer.setSingleShot(true);
        connect(&m_connectTimer, &QTimer::timeout, this, [this] {
            fail(QStringLiteral("could not connect to %1: no answer within %2")
                         .arg(m_settings.target.text(), formatDuration(m_settings.connectTimeout)),
                 ExitNetwork);
        });
        connect(&m_sendTimer, &QTimer::timeout, this, &Client::sendData);
        // A connection we close ourselves must not outlive a peer that takes nothing.
        m_closeTimer.setSingleShot(true);
        connect(&m_closeTimer, &QTimer::timeout, m_socket, &QAbstractSocket::abort);
    }

    // Creates the heartbeat; its settings are checked by the library.
    std::optional<UsageError> setUpHeartbeat()
    {
        if (!m_settings.heartbeatInterval)
            return std::nullopt;
        m_heartbeat = new KeepAliveHeartbeat(m_socket);
        const QString value = QStringLiteral("--heartbeat %1").arg(m_heartbeatText);
        if (!m_heartbeat->setMaxMissed(m_settings.maxMissed)
            || !m_heartbeat->setInterval(*m_settings.heartbeatInterval))
            return UsageError{QStringLiteral("%1: %2").arg(value, m_heartbeat->errorString())};
        m_heartbeat->setPingPayload(m_settings.ping);
        connect(m_heartbeat, &KeepAliveHeartbeat::roundTripTimeChanged, this,
                &Client::onHeartbeatAnswered);
        connect(m_heartbeat, &KeepAliveHeartbeat::pingSent, this, [this](int missed) {
            m_answerPending = true;
            m_out.event(QStringLiteral("heartbeat-sent"),
                        QStringLiteral("heartbeat sent %1 (unanswered: %2 of %3)")
                                .arg(quoted(m_settings.ping))
                                .arg(missed)
                                .arg(m_settings.maxMissed),
                        {{QStringLiteral("missed"), missed},
                         {QStringLiteral("payload"), QString::fromUtf8(m_settings.ping)}});
        });
        return std::nullopt;
    }

    void setHeartbeatText(const QString &text) { m_heartbeatText = text; }

    void start()
    {
        const KeepAliveOptions &options = m_settings.options;
        m_out.setting(QStringLiteral("start"),
                      QStringLiteral("%1 %2 (Qt %3): connecting to %4")
                              .arg(QCoreApplication::applicationName(),
                                   QCoreApplication::applicationVersion(),
                                   QString::fromLatin1(qVersion()), m_settings.target.text()),
                      {{QStringLiteral("version"), QCoreApplication::applicationVersion()},
                       {QStringLiteral("host"), m_settings.target.host},
                       {QStringLiteral("port"), m_settings.target.port}});
        m_out.setting(QStringLiteral("requested"),
                      QStringLiteral("requested:        %1").arg(describe(options)),
                      toJson(options));
        if (m_heartbeat) {
            m_out.setting(
                    QStringLiteral("heartbeat"),
                    QStringLiteral("heartbeat:        ping %1 after %2 of silence, dead after %3 "
                                   "unanswered (jitter up to %4)")
                            .arg(quoted(m_settings.ping), formatDuration(m_heartbeat->interval()))
                            .arg(m_heartbeat->maxMissed())
                            .arg(formatDuration(m_heartbeat->jitter())),
                    {{QStringLiteral("intervalMs"), qint64(m_heartbeat->interval().count())},
                     {QStringLiteral("maxMissed"), m_heartbeat->maxMissed()},
                     {QStringLiteral("jitterMs"), qint64(m_heartbeat->jitter().count())},
                     {QStringLiteral("payload"), QString::fromUtf8(m_settings.ping)}});
        }
        m_out.setting(QStringLiteral("bound"), boundText(), boundJson());
        m_connectTimer.start(m_settings.connectTimeout);
        if (m_tls)
            m_tls->connectToHostEncrypted(m_settings.target.host, m_settings.target.port);
        else
            m_socket->connectToHost(m_settings.target.host, m_settings.target.port);
    }

    void stop(const QString &signalName)
    {
        m_stopping = true;
        m_out.event(QStringLiteral("stop"),
                    QStringLiteral("%1: closing the connection").arg(signalName),
                    {{QStringLiteral("signal"), signalName}}, true);
        if (m_socket->state() == QAbstractSocket::ConnectedState) {
            m_closeTimer.start(2s);
            // Bounded even if the socket never reports its end.
            QTimer::singleShot(3s, this, [this] { finish(ExitOrderly); });
            m_socket->disconnectFromHost();
        } else {
            m_socket->abort();
            finish(ExitOrderly);
        }
    }

private:
    KeepAliveSslSocket *createTlsSocket()
    {
        auto *socket = new KeepAliveSslSocket(this);
        if (!m_settings.caCertificates.isEmpty()) {
            QSslConfiguration configuration = socket->sslConfiguration();
            configuration.setCaCertificates(m_settings.caCertificates);
            socket->setSslConfiguration(configuration);
        }
        if (!m_settings.serverName.isEmpty())
            socket->setPeerVerifyName(m_settings.serverName);
        connect(socket, &QSslSocket::sslErrors, this, [this, socket](const QList<QSslError> &errors) {
            QStringList messages;
            for (const QSslError &error : errors)
                messages << error.errorString();
            if (m_settings.insecure) {
                m_out.event(QStringLiteral("tls-insecure"),
                            QStringLiteral("TLS: accepted despite --insecure: %1")
                                    .arg(messages.join(QStringLiteral("; "))),
                            {{QStringLiteral("errors"), QJsonArray::fromStringList(messages)}},
                            true);
                socket->ignoreSslErrors();
            } else {
                fail(QStringLiteral("TLS: the server's certificate is not trusted: %1 (see --ca, "
                                    "--sni, --insecure)")
                             .arg(messages.join(QStringLiteral("; "))),
                     ExitNetwork);
            }
        });
        connect(socket, &QSslSocket::encrypted, this, [this, socket] {
            const QSslCipher cipher = socket->sessionCipher();
            const QString subject = socket->peerCertificate()
                                            .subjectInfo(QSslCertificate::CommonName)
                                            .join(QStringLiteral(", "));
            m_out.event(QStringLiteral("tls"),
                        QStringLiteral("TLS: %1, %2, peer certificate \"%3\"")
                                .arg(cipher.protocolString(), cipher.name(), subject),
                        {{QStringLiteral("protocol"), cipher.protocolString()},
                         {QStringLiteral("cipher"), cipher.name()},
                         {QStringLiteral("peerCertificate"), subject}},
                        true);
        });
        connect(socket, &KeepAliveSslSocket::closeTruncated, this, [this] {
            m_out.event(QStringLiteral("tls-truncated"),
                        QStringLiteral("TLS: the peer closed without close_notify (the last data "
                                       "may be cut short)"),
                        {}, true);
        });
        return socket;
    }

    // The bound of an idle connection: with the user timeout off, or no
    // per-socket user timeout on the platform (Windows under Wine), it
    // still has one.
    milliseconds idleBound() const { return m_settings.options.idleDetectionBound(); }

    QString unboundedWhy() const
    {
        const KeepAliveOptions &options = m_settings.options;
        if (!options.isEnabled())
            return QStringLiteral("keepalive off");
        if (options.userTimeoutMode() == KeepAliveOptions::UserTimeoutMode::Off)
            return QStringLiteral("user timeout off");
        return QStringLiteral("no user timeout on this platform");
    }

    QString boundText() const
    {
        const KeepAliveOptions &options = m_settings.options;
        const bool unbounded = options.detectionBound() == milliseconds::max();
        QString text = unbounded
                ? QStringLiteral("detection bound:  %1 while idle; none with data in flight "
                                 "(%2)")
                          .arg(formatDuration(idleBound()), unboundedWhy())
                : QStringLiteral("detection bound:  %1, idle or with data in flight")
                          .arg(formatDuration(options.detectionBound()));
        if (m_heartbeat)
            text += QStringLiteral("; heartbeat %1")
                            .arg(formatDuration(m_heartbeat->detectionBound()));
        return text;
    }

    QJsonObject boundJson() const
    {
        const milliseconds bound = m_settings.options.detectionBound();
        QJsonObject object{
                {QStringLiteral("idleMs"), qint64(idleBound().count())},
                {QStringLiteral("dataInFlightMs"),
                 bound == milliseconds::max() ? QJsonValue() : QJsonValue(qint64(bound.count()))}};
        if (m_heartbeat)
            object.insert(QStringLiteral("heartbeatMs"),
                          qint64(m_heartbeat->detectionBound().count()));
        return object;
    }

    void onConnected()
    {
        m_connectTimer.stop();
        m_connected = true;
        m_lastReceived.start();
        m_connectedAt.start();
        m_out.event(QStringLiteral("connected"),
                    QStringLiteral("connected %1:%2 -> %3")
                            .arg(m_socket->localAddress().toString())
                            .arg(m_socket->localPort())
                            .arg(m_settings.target.text()),
                    {{QStringLiteral("local"), m_socket->localAddress().toString()},
                     {QStringLiteral("localPort"), m_socket->localPort()},
                     {QStringLiteral("peer"), m_socket->peerAddress().toString()},
                     {QStringLiteral("peerPort"), m_socket->peerPort()}},
                    true);

        // Applied by the library when the connection came up, then read back with getsockopt().
        const EffectiveKeepAliveOptions effective =
                withLibrarySocket([](auto *socket) { return socket->effectiveKeepAliveOptions(); });
        const QStringList unread = unreadFields(effective);
        QJsonObject fields = toJson(effective);
        fields.insert(QStringLiteral("notReadBack"), QJsonArray::fromStringList(unread));
        m_out.setting(QStringLiteral("effective"),
                      QStringLiteral("kernel holds:     %1").arg(describe(effective)), fields);
        m_out.setting(
                QStringLiteral("not-read-back"),
                QStringLiteral("not read back:    %1")
                        .arg(unread.isEmpty() ? QStringLiteral("nothing, every field was "
                                                               "read from the kernel")
                                              : unread.join(QStringLiteral(", "))
                                             + QStringLiteral(" (this platform cannot tell)")),
                {{QStringLiteral("fields"), QJsonArray::fromStringList(unread)}});
        const QString rounding = roundingNote(effective);
        if (!rounding.isEmpty())
            m_out.setting(QStringLiteral("rounded"),
                          QStringLiteral("note:             ") + rounding,
                          {{QStringLiteral("message"), rounding}});

        if (m_settings.sendEvery)
            m_sendTimer.start(*m_settings.sendEvery);
    }

    QString roundingNote(const EffectiveKeepAliveOptions &effective) const
    {
        QStringList notes;
        const auto compare = [&](const QString &name, milliseconds requested,
                                 const std::optional<milliseconds> &held) {
            if (held && *held != requested)
                notes << QStringLiteral("%1 %2 is held as %3")
                                 .arg(name, formatDuration(requested), formatDuration(*held));
        };
        compare(QStringLiteral("idle"), m_settings.options.idle(), effective.idle);
        compare(QStringLiteral("interval"), m_settings.options.interval(), effective.interval);
        if (notes.isEmpty())
            return {};
        return notes.join(QStringLiteral(", "))
                + QStringLiteral(" (this platform takes whole seconds and rounds up)");
    }

    void sendData()
    {
        const QByteArray data = QByteArrayLiteral("data ") + QByteArray::number(++m_sent) + '\n';
        m_socket->write(data);
        m_out.event(QStringLiteral("sent"), QStringLiteral("sent %1").arg(quoted(data)),
                    {{QStringLiteral("bytes"), qint64(data.size())},
                     {QStringLiteral("data"), QString::fromUtf8(data)}});
    }

    void onReadyRead()
    {
        // Dead or not: what arrived before is printed first.
        const QByteArray data = m_socket->readAll();
        if (data.isEmpty())
            return;
        m_lastReceived.start();
        if (m_answerPending && m_socket->state() == QAbstractSocket::ConnectedState) {
            // Printed with the heartbeat's round-trip time, which it
            // measures as this readyRead() reaches it.
            m_answer += data;
            return;
        }
        m_out.event(QStringLiteral("received"),
                    QStringLiteral("received %1 bytes: %2").arg(data.size()).arg(quoted(data)),
                    {{QStringLiteral("bytes"), qint64(data.size())},
                     {QStringLiteral("data"), QString::fromUtf8(data)}});
    }

    void onHeartbeatAnswered(std::chrono::microseconds roundTrip)
    {
        const double ms = double(roundTrip.count()) / 1e3;
        m_out.event(QStringLiteral("heartbeat-answered"),
                    QStringLiteral("heartbeat answered after %1 ms: %2")
                            .arg(ms, 0, 'f', 1)
                            .arg(quoted(m_answer)),
                    {{QStringLiteral("afterMs"), ms},
                     {QStringLiteral("roundTripUs"), qint64(roundTrip.count())},
                     {QStringLiteral("data"), QString::fromUtf8(m_answer)}});
        m_answerPending = false;
        m_answer.clear();
    }

    void onDeadPeer(QtKeepAlive::DeadPeerReason reason)
    {
        onReadyRead();
        m_dead = true;
        m_sendTimer.stop();
        const ConnectionHealth health =
                withLibrarySocket([](auto *socket) { return socket->connectionHealth(); });
        const QString reasonName = enumName(reason);

        // How long the peer was silent: for the heartbeat, since its last bytes;
        // for the kernel, since its last ACK (keepalive probes' answers included).
        qint64 silentMs = m_lastReceived.elapsed();
        QString since = QStringLiteral("last data received");
        milliseconds bound = m_settings.options.detectionBound();
        if (reason == QtKeepAlive::DeadPeerReason::KeepAliveTimeout)
            bound = idleBound();
        if (reason == QtKeepAlive::DeadPeerReason::HeartbeatTimeout) {
            bound = m_heartbeat->detectionBound();
        } else if (health.sinceLastAckReceived) {
            silentMs = health.sinceLastAckReceived->count();
            since = QStringLiteral("last ACK received, TCP_INFO");
        }
        const QJsonValue boundMs =
                bound == milliseconds::max() ? QJsonValue() : QJsonValue(qint64(bound.count()));
        // Past the bound by the kernel's timer granularity (tens of ms) is normal.
        const qint64 difference = silentMs - bound.count();
        const QString againstBound = bound == milliseconds::max()
                ? QStringLiteral("no bound")
                : QStringLiteral("bound %1, %2 %3")
                          .arg(formatDuration(bound), formatSeconds(qAbs(difference)),
                               difference > 0 ? QStringLiteral("over") : QStringLiteral("under"));
        m_out.event(QStringLiteral("dead-peer"),
                    QStringLiteral("dead peer: %1: %2").arg(reasonName, m_socket->errorString()),
                    {{QStringLiteral("reason"), reasonName},
                     {QStringLiteral("errorString"), m_socket->errorString()},
                     {QStringLiteral("silentMs"), silentMs},
                     {QStringLiteral("silentSince"), since},
                     {QStringLiteral("connectedMs"), m_connectedAt.elapsed()},
                     {QStringLiteral("boundMs"), boundMs},
                     {QStringLiteral("health"), toJson(health)}},
                    true);
        if (!m_out.isJson()) {
            m_out.event(QStringLiteral("dead-peer"),
                        QStringLiteral("  elapsed %1 since the peer's last sign of life (%2); %3; "
                                       "connected for %4")
                                .arg(formatSeconds(silentMs), since, againstBound,
                                     formatSeconds(m_connectedAt.elapsed())),
                        {}, true);
            m_out.event(QStringLiteral("dead-peer"),
                        QStringLiteral("  TCP_INFO at death: %1").arg(describe(health)), {}, true);
        }
    }

    void onError(QAbstractSocket::SocketError error)
    {
        if (m_connected)
            return; // a death is reported by onDeadPeer(), an orderly close by onDisconnected()
        if (error == QAbstractSocket::HostNotFoundError)
            fail(QStringLiteral("HOST:PORT %1: host not found (%2)")
                         .arg(m_settings.target.text(), m_socket->errorString()),
                 ExitUsage);
        else
            fail(QStringLiteral("could not connect to %1: %2")
                         .arg(m_settings.target.text(), m_socket->errorString()),
                 ExitNetwork);
    }

    void onDisconnected()
    {
        if (!m_connected)
            return;
        m_connected = false;
        m_sendTimer.stop();
        m_closeTimer.stop();
        if (m_dead)
            return finish(ExitDeadPeer);
        const QString by = m_stopping ? QStringLiteral("client") : QStringLiteral("peer");
        m_out.event(QStringLiteral("closed"),
                    m_stopping ? QStringLiteral("connection closed")
                               : QStringLiteral("connection closed by the peer (orderly)"),
                    {{QStringLiteral("by"), by},
                     {QStringLiteral("connectedMs"), m_connectedAt.elapsed()}},
                    true);
        finish(ExitOrderly);
    }

    void fail(const QString &message, ExitCode code)
    {
        if (m_finished)
            return; // e.g. Qt's error after a TLS verification failure reported here
        m_connectTimer.stop();
        m_connected = false; // the abort() below is no close by the peer
        m_socket->abort();
        printError(message);
        finish(code);
    }

    void finish(ExitCode code)
    {
        if (m_finished)
            return;
        m_finished = true;
        m_out.event(QStringLiteral("exit"), QStringLiteral("exit %1").arg(int(code)),
                    {{QStringLiteral("code"), int(code)}}, true);
        QCoreApplication::exit(code);
    }

    const Settings m_settings;
    Output &m_out;
    QAbstractSocket *m_socket = nullptr;
    KeepAliveSocket *m_plain = nullptr;  //!< m_socket without --tls
    KeepAliveSslSocket *m_tls = nullptr; //!< m_socket with --tls
    KeepAliveHeartbeat *m_heartbeat = nullptr;
    QString m_heartbeatText;
    QTimer m_connectTimer;
    QTimer m_sendTimer;
    QTimer m_closeTimer;
    QElapsedTimer m_lastReceived;
    QElapsedTimer m_connectedAt;
    bool m_answerPending = false; // a ping waits for its answer
    QByteArray m_answer;          // received while it waited, printed with the round-trip time
    qint64 m_sent = 0;
    bool m_connected = false;
    bool m_dead = false;
    bool m_stopping = false;
    bool m_finished = false;
};

// --tls and the options that need it.
std::optional<UsageError> parseTlsSettings(const QCommandLineParser &parser, Settings *settings)
{
    settings->tls = parser.isSet(QStringLiteral("tls"));
    for (const char *option : {"ca", "insecure", "sni"}) {
        if (!settings->tls && parser.isSet(QString::fromLatin1(option)))
            return UsageError{QStringLiteral("--%1 needs --tls").arg(QString::fromLatin1(option))};
    }
    if (!settings->tls)
        return std::nullopt;
    if (!QSslSocket::supportsSsl())
        return UsageError{QStringLiteral("--tls: this Qt has no TLS backend (%1)")
                                  .arg(QSslSocket::activeBackend())};
    settings->insecure = parser.isSet(QStringLiteral("insecure"));
    if (parser.isSet(QStringLiteral("ca"))) {
        if (settings->insecure)
            return UsageError{QStringLiteral("--ca and --insecure: choose one")};
        const QString file = parser.value(QStringLiteral("ca"));
        settings->caCertificates = QSslCertificate::fromPath(
                file, QSsl::Pem, QSslCertificate::PatternSyntax::FixedString);
        if (settings->caCertificates.isEmpty())
            return UsageError{
                    QStringLiteral("--ca \"%1\": no PEM certificate could be read from it")
                            .arg(file)};
    }
    settings->serverName = parser.value(QStringLiteral("sni"));
    if (parser.isSet(QStringLiteral("sni")) && settings->serverName.isEmpty())
        return UsageError{QStringLiteral("--sni: empty name")};
    return std::nullopt;
}

// The description, --help, --version and the options, in the order --help lists them.
QList<QCommandLineOption> describeCommandLine(QCommandLineParser &parser)
{
    parser.setApplicationDescription(
            QStringLiteral(
                    "Connects to HOST:PORT (IPv4, [IPv6]:PORT or a host name) with per-connection "
                    "TCP keepalive, prints the options requested and as read back from the "
                    "kernel, the detection bound, then one line per event until the connection "
                    "ends. At a dead peer: the reason, the message, the time against the bound "
                    "and the kernel's TCP_INFO at the death.\n\n"
                    "Durations are seconds (2, 0.5) or carry a unit (500ms, 1.5s, 2min, 1h). "
                    "Keepalive idle and interval are whole seconds on every platform: fractions "
                    "are rounded up, never down to 0, and the read-back shows what was applied. "
                    "Values out of the platform's range are refused with the range.\n\n")
            + exitCodeHelp(false));
    parser.addHelpOption();
    parser.addVersionOption();
    QList<QCommandLineOption> options = keepAliveCommandLineOptions();
    options.append({
            {QStringLiteral("heartbeat"),
             QStringLiteral("Also an application heartbeat: send the ping after INTERVAL without "
                            "receiving anything; the peer is dead after MAXMISSED (default 3) "
                            "unanswered pings."),
             QStringLiteral("interval[,maxmissed]")},
            {QStringLiteral("ping"),
             QStringLiteral("The heartbeat's ping (escapes \\n \\r \\t \\\\ \\xHH). Default "
                            "\"HeartBeat\", which keepalive-server answers with \"OK\"."),
             QStringLiteral("text")},
            {QStringLiteral("send-every"),
             QStringLiteral("Keep data flowing: send a line \"data N\" every DURATION."),
             QStringLiteral("duration")},
            {QStringLiteral("connect-timeout"),
             QStringLiteral("Give up connecting after DURATION (exit 3). Default 10 s."),
             QStringLiteral("duration")},
            {QStringLiteral("tls"),
             QStringLiteral("Speak TLS (KeepAliveSslSocket): keepalive applies to the TCP "
                            "connection under it. The server's certificate must be trusted (the "
                            "system's CAs, or --ca) and name the host (or --sni).")},
            {QStringLiteral("ca"),
             QStringLiteral("With --tls: trust the CA certificates in FILE (PEM) instead of the "
                            "system's."),
             QStringLiteral("file")},
            {QStringLiteral("insecure"),
             QStringLiteral("With --tls: accept any certificate (self-signed test servers); the "
                            "errors are printed.")},
            {QStringLiteral("sni"),
             QStringLiteral("With --tls: the server name sent (SNI) and verified in the "
                            "certificate, instead of the host."),
             QStringLiteral("name")},
            {QStringLiteral("quiet"),
             QStringLiteral("Print only the connection, its end and the exit code.")},
            {QStringLiteral("json"),
             QStringLiteral("One JSON object per line and event, for scripts.")},
    });
    parser.addPositionalArgument(QStringLiteral("HOST:PORT"),
                                 QStringLiteral("Where to connect, e.g. 192.0.2.7:5050, "
                                                "[2001:db8::7]:5050, server.example:5050."));
    return options;
}

// The one positional argument, HOST:PORT.
std::optional<UsageError> parseTargetArgument(const QCommandLineParser &parser, Settings *settings)
{
    const QStringList positional = parser.positionalArguments();
    if (positional.size() != 1)
        return UsageError{positional.isEmpty() ? QStringLiteral("HOST:PORT missing (see --help)")
                                               : QStringLiteral("one HOST:PORT expected, got: %1")
                                                         .arg(positional.join(QLatin1Char(' ')))};
    UsageError error;
    const std::optional<Target> target = parseTarget(positional.constFirst(), &error);
    if (!target)
        return error;
    settings->target = *target;
    return std::nullopt;
}

// --heartbeat INTERVAL[,MAXMISSED] and --ping. Zero and negative values are
// for the heartbeat's own validation to refuse.
std::optional<UsageError> parseHeartbeatSettings(const QCommandLineParser &parser,
                                                 Settings *settings)
{
    UsageError error;
    if (parser.isSet(QStringLiteral("heartbeat"))) {
        const std::optional<HeartbeatSetting> heartbeat = parseHeartbeatSetting(
                QStringLiteral("heartbeat"), parser.value(QStringLiteral("heartbeat")), &error);
        if (!heartbeat)
            return error;
        settings->heartbeatInterval = heartbeat->interval;
        settings->maxMissed = heartbeat->maxMissed.value_or(settings->maxMissed);
    }
    if (!parser.isSet(QStringLiteral("ping")))
        return std::nullopt;
    if (!settings->heartbeatInterval)
        return UsageError{QStringLiteral("--ping needs --heartbeat (without it nothing is sent)")};
    const std::optional<QByteArray> ping =
            parsePayload(QStringLiteral("ping"), parser.value(QStringLiteral("ping")), &error);
    if (!ping)
        return error;
    settings->ping = *ping;
    return std::nullopt;
}

// --send-every and --connect-timeout: QTimer waits.
std::optional<UsageError> parseTimerSettings(const QCommandLineParser &parser, Settings *settings)
{
    UsageError error;
    if (parser.isSet(QStringLiteral("send-every"))) {
        settings->sendEvery = parseTimerDuration(parser, QStringLiteral("send-every"), &error);
        if (!settings->sendEvery)
            return error;
    }
    if (parser.isSet(QStringLiteral("connect-timeout"))) {
        const std::optional<milliseconds> timeout =
                parseTimerDuration(parser, QStringLiteral("connect-timeout"), &error);
        if (!timeout)
            return error;
        settings->connectTimeout = *timeout;
    }
    return std::nullopt;
}

// Everything the command line sets, checked in the order of the usage errors' precedence.
std::optional<UsageError> parseSettings(const QCommandLineParser &parser, Settings *settings)
{
    if (std::optional<UsageError> error = parseTargetArgument(parser, settings))
        return error;
    UsageError error;
    const std::optional<KeepAliveOptions> options = keepAliveOptionsFromCommandLine(parser, &error);
    if (!options)
        return error;
    settings->options = *options;
    if (std::optional<UsageError> heartbeatError = parseHeartbeatSettings(parser, settings))
        return heartbeatError;
    if (std::optional<UsageError> timerError = parseTimerSettings(parser, settings))
        return timerError;
    if (std::optional<UsageError> tlsError = parseTlsSettings(parser, settings))
        return tlsError;
    settings->json = parser.isSet(QStringLiteral("json"));
    settings->quiet = parser.isSet(QStringLiteral("quiet"));
    return std::nullopt;
}

// Connects and reports until the connection ends or a stop signal comes.
int run(const Settings &settings, const QString &heartbeatText)
{
    Output out(settings.json, settings.quiet);
    Client client(settings, out);
    client.setHeartbeatText(heartbeatText);
    if (const std::optional<UsageError> heartbeatError = client.setUpHeartbeat())
        return usage(*heartbeatError);

    StopSignals stopSignals;
    QObject::connect(&stopSignals, &StopSignals::stopRequested, &client, &Client::stop);
    client.start();
    return QCoreApplication::exec();
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    setUpTool(QStringLiteral("keepalive-client"));

    QCommandLineParser parser;
    const QList<QCommandLineOption> options = describeCommandLine(parser);
    if (const std::optional<int> exitCode = handleCommandLine(parser, options, app.arguments()))
        return *exitCode;

    Settings settings;
    if (const std::optional<UsageError> error = parseSettings(parser, &settings))
        return usage(*error);
    return run(settings, parser.value(QStringLiteral("heartbeat")));
}
