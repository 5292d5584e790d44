// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// keepalive-server: an echo server that answers the classic heartbeat
// ("HeartBeat" -> "OK"), applies keepalive options to every accepted client
// and logs connects, every lost client with its reason (dead peer, idle,
// refused over the limit, a TLS handshake that failed or timed out) and
// orderly closes; with --tls CERT KEY over TLS (KeepAliveSslServer). Exit
// codes: see exitCodeHelp().

#include "../shared/keepalivetool.h"

#include <KeepAliveHeartbeat>
#include <KeepAliveServer>
#include <KeepAliveSocket>
#include <KeepAliveSslServer>

#include <QtCore/QCoreApplication>
#include <QtCore/QHash>
#include <QtCore/QJsonObject>
#include <QtCore/QPointer>
#include <QtCore/QTimer>
#include <QtCore/QFile>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QTcpSocket>

#include <algorithm>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace KeepAliveTool;

namespace {

struct Settings
{
    QHostAddress address = QHostAddress(QHostAddress::LocalHost);
    quint16 port = 5050; // the classic test programs' port
    KeepAliveOptions options;
    std::optional<milliseconds> idleTimeout;
    int maxClients = 0;
    QByteArray request = QByteArrayLiteral("HeartBeat");
    QByteArray reply = QByteArrayLiteral("OK");
    std::optional<milliseconds> stats;
    //! --heartbeat INTERVAL[,MAXMISSED]: the server pings its clients.
    std::optional<HeartbeatSetting> heartbeat;
    //! --tls CERT KEY: the server's certificate chain and key; no certificate: plain TCP.
    QList<QSslCertificate> certificates;
    QSslKey key;
    std::optional<milliseconds> handshakeTimeout;
};

// The echo with heartbeat answers, per client: every occurrence of the request
// in the byte stream is answered with the reply, everything else is echoed.
// A request split across reads is recognised: a tail that may be its start is
// held back (at most request size - 1 bytes).
class EchoStream
{
public:
    EchoStream(const QByteArray &request, const QByteArray &reply)
        : m_request(request),
          m_reply(reply)
    {
    }

    //! The bytes to send back for \a data; \a heartbeats counts the answered requests.
    QByteArray feed(const QByteArray &data, int *heartbeats)
    {
        const QByteArray in = m_held + data;
        m_held.clear();
        QByteArray out;
        qsizetype from = 0;
        for (qsizetype at; (at = in.indexOf(m_request, from)) >= 0; from = at + m_request.size()) {
            out += in.mid(from, at - from) + m_reply;
            ++*heartbeats;
        }
        qsizetype keep = qMin(in.size() - from, m_request.size() - 1);
        while (keep > 0 && !m_request.startsWith(in.right(keep)))
            --keep;
        out += in.mid(from, in.size() - from - keep);
        m_held = in.right(keep);
        return out;
    }

private:
    const QByteArray m_request;
    const QByteArray m_reply;
    QByteArray m_held;
};

// The same server over KeepAliveServer (plain TCP) and KeepAliveSslServer (TLS).
template<typename KeepAliveTcpServer>
class Server : public QObject
{
    //! KeepAliveSocket or KeepAliveSslSocket.
    using Socket = std::remove_pointer_t<
            decltype(std::declval<KeepAliveTcpServer &>().nextPendingConnection())>;
    static constexpr bool IsTls = !std::is_same_v<KeepAliveTcpServer, KeepAliveServer>;

public:
    Server(const Settings &settings, Output &out) : m_settings(settings), m_out(out)
    {
        connect(&m_server, &QTcpServer::pendingConnectionAvailable, this, [this] {
            while (Socket *socket = m_server.nextPendingConnection())
                accept(socket);
        });
        connect(&m_server, &KeepAliveTcpServer::clientLost, this, &Server::onClientLost);
        connect(&m_statsTimer, &QTimer::timeout, this, &Server::printStats);
    }

    //! Applies the settings; the library validates them.
    std::optional<UsageError> configure(const QString &idleTimeoutText, const QString &maxText,
                                        const QString &handshakeText, const QString &heartbeatText)
    {
        if constexpr (IsTls) {
            QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
            configuration.setLocalCertificateChain(m_settings.certificates);
            configuration.setPrivateKey(m_settings.key);
            configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
            m_server.setSslConfiguration(configuration);
            if (m_settings.handshakeTimeout
                && !m_server.setHandshakeTimeout(*m_settings.handshakeTimeout))
                return UsageError{QStringLiteral("--handshake-timeout %1: %2")
                                          .arg(handshakeText, m_server.settingErrorString())};
        } else {
            Q_UNUSED(handshakeText);
        }
        m_server.setKeepAliveOptions(m_settings.options); // validated while parsing
        if (m_settings.idleTimeout && !m_server.setIdleTimeout(*m_settings.idleTimeout))
            return UsageError{QStringLiteral("--idle-timeout %1: %2")
                                      .arg(idleTimeoutText, m_server.settingErrorString())};
        if (!m_server.setMaxClients(m_settings.maxClients))
            return UsageError{QStringLiteral("--max-clients %1: %2")
                                      .arg(maxText, m_server.settingErrorString())};
        if (m_settings.heartbeat) {
            // Checked once on a heartbeat of no connection: every client's takes the same.
            QTcpSocket unconnected;
            const QString rejected = applyHeartbeatSetting(*m_settings.heartbeat,
                                                           new KeepAliveHeartbeat(&unconnected));
            if (!rejected.isEmpty())
                return UsageError{QStringLiteral("--heartbeat %1: %2").arg(heartbeatText, rejected)};
        }
        return std::nullopt;
    }

    bool listen()
    {
        if (!m_server.listen(m_settings.address, m_settings.port)) {
            printError(QStringLiteral("cannot listen on %1: %2")
                               .arg(endpoint(m_settings.address, m_settings.port),
                                    m_server.errorString()));
            return false;
        }
        const QString where = endpoint(m_server.serverAddress(), m_server.serverPort());
        m_out.event(QStringLiteral("listening"),
                    QStringLiteral("%1 %2 (Qt %3): listening on %4")
                            .arg(QCoreApplication::applicationName(),
                                 QCoreApplication::applicationVersion(),
                                 QString::fromLatin1(qVersion()), where),
                    {{QStringLiteral("version"), QCoreApplication::applicationVersion()},
                     {QStringLiteral("address"), m_server.serverAddress().toString()},
                     {QStringLiteral("port"), m_server.serverPort()}},
                    true);
        m_out.setting(QStringLiteral("requested"),
                      QStringLiteral("keepalive:        %1, detection bound %2 (idle: %3)")
                              .arg(describe(m_settings.options),
                                   formatDuration(m_settings.options.detectionBound()),
                                   formatDuration(m_settings.options.idleDetectionBound())),
                      toJson(m_settings.options));
        m_out.setting(
                QStringLiteral("server-settings"),
                QStringLiteral("clients:          idle timeout %1, at most %2; heartbeat %3 -> %4")
                        .arg(m_settings.idleTimeout ? formatDuration(*m_settings.idleTimeout)
                                                    : QStringLiteral("off"),
                             m_settings.maxClients ? QString::number(m_settings.maxClients)
                                                   : QStringLiteral("unlimited"),
                             quoted(m_settings.request), quoted(m_settings.reply)),
                {{QStringLiteral("idleTimeoutMs"),
                  m_settings.idleTimeout ? QJsonValue(qint64(m_settings.idleTimeout->count()))
                                         : QJsonValue()},
                 {QStringLiteral("maxClients"), m_settings.maxClients},
                 {QStringLiteral("heartbeatRequest"), QString::fromUtf8(m_settings.request)},
                 {QStringLiteral("heartbeatReply"), QString::fromUtf8(m_settings.reply)}});
        if constexpr (IsTls) {
            const QSslCertificate &certificate = m_settings.certificates.constFirst();
            m_out.setting(QStringLiteral("tls"),
                          QStringLiteral("TLS:              certificate \"%1\", handshake "
                                         "timeout %2")
                                  .arg(certificate.subjectDisplayName(),
                                       formatDuration(m_server.handshakeTimeout())),
                          {{QStringLiteral("certificate"), certificate.subjectDisplayName()},
                           {QStringLiteral("handshakeTimeoutMs"),
                            qint64(m_server.handshakeTimeout().count())}});
        }
        if (m_settings.stats)
            m_statsTimer.start(*m_settings.stats);
        return true;
    }

    void stop(const QString &signalName)
    {
        m_out.event(QStringLiteral("stop"),
                    QStringLiteral("%1: stopping, closing %2 client(s)")
                            .arg(signalName)
                            .arg(m_clients.size()),
                    {{QStringLiteral("signal"), signalName},
                     {QStringLiteral("clients"), qint64(m_clients.size())}},
                    true);
        m_stopping = true;
        m_server.close();
        const QList<Socket *> sockets = m_clients.keys();
        for (Socket *socket : sockets)
            socket->disconnectFromHost();
        // Clients that take nothing more must not hold the exit up.
        QTimer::singleShot(2s, this, [this] { finish(); });
        if (m_clients.isEmpty())
            finish();
    }

private:
    struct Client
    {
        int id = 0;
        QString peer;
        EchoStream echo;
        bool lost = false;
        KeepAliveHeartbeat *heartbeat = nullptr; //!< with --heartbeat; a child of the socket
    };

    void accept(Socket *socket)
    {
        ++m_accepted;
        Client &client =
                *m_clients
                         .insert(socket,
                                 std::make_shared<Client>(Client{
                                         m_accepted,
                                         endpoint(socket->peerAddress(), socket->peerPort()),
                                         EchoStream(m_settings.request, m_settings.reply), false}))
                         .value();
        const EffectiveKeepAliveOptions effective = socket->effectiveKeepAliveOptions();
        m_out.event(QStringLiteral("connected"),
                    QStringLiteral("client #%1 %2 connected (%3 connected); kernel holds: %4")
                            .arg(client.id)
                            .arg(client.peer)
                            .arg(m_clients.size())
                            .arg(describe(effective)),
                    {{QStringLiteral("client"), client.id},
                     {QStringLiteral("peer"), client.peer},
                     {QStringLiteral("clients"), qint64(m_clients.size())},
                     {QStringLiteral("effective"), toJson(effective)}},
                    true);
        if (m_settings.heartbeat) {
            client.heartbeat = new KeepAliveHeartbeat(socket);
            applyHeartbeatSetting(*m_settings.heartbeat, client.heartbeat);
            client.heartbeat->setPingPayload(m_settings.request);
        }
        connect(socket, &QIODevice::readyRead, this, [this, socket] { echo(socket); });
        connect(socket, &QAbstractSocket::disconnected, this,
                [this, socket] { onDisconnected(socket); });
    }

    void echo(Socket *socket)
    {
        const auto it = m_clients.constFind(socket);
        if (it == m_clients.cend())
            return;
        Client &client = **it;
        int heartbeats = 0;
        const QByteArray received = socket->readAll();
        const QByteArray answer = client.echo.feed(received, &heartbeats);
        socket->write(answer);
        if (heartbeats > 0)
            m_out.event(
                    QStringLiteral("heartbeat"),
                    QStringLiteral("client #%1: %2 answered with %3")
                            .arg(client.id)
                            .arg(heartbeats == 1 ? QStringLiteral("heartbeat")
                                                 : QStringLiteral("%1 heartbeats").arg(heartbeats))
                            .arg(quoted(m_settings.reply)),
                    {{QStringLiteral("client"), client.id}, {QStringLiteral("count"), heartbeats}});
        if (answer.size() > heartbeats * m_settings.reply.size())
            m_out.event(QStringLiteral("echo"),
                        QStringLiteral("client #%1: echoed %2 bytes")
                                .arg(client.id)
                                .arg(answer.size() - heartbeats * m_settings.reply.size()),
                        {{QStringLiteral("client"), client.id},
                         {QStringLiteral("bytes"),
                          qint64(answer.size() - heartbeats * m_settings.reply.size())}});
    }

    QString handshakeTimeoutText() const
    {
        if constexpr (IsTls)
            return formatDuration(m_server.handshakeTimeout());
        else
            return QString();
    }

    void onClientLost(Socket *socket, QtKeepAlive::ClientLossReason reason,
                      const ConnectionHealth &atDeath)
    {
        const QString reasonName = enumName(reason);
        if (reason == QtKeepAlive::ClientLossReason::HandshakeTimeout
            || reason == QtKeepAlive::ClientLossReason::HandshakeFailed) {
            ++m_handshakesLost;
            const QString peer = endpoint(socket->peerAddress(), socket->peerPort());
            const QString why = reason == QtKeepAlive::ClientLossReason::HandshakeTimeout
                    ? QStringLiteral("no TLS handshake within %1, dropped")
                              .arg(handshakeTimeoutText())
                    : QStringLiteral("TLS handshake failed: %1").arg(socket->errorString());
            m_out.event(QStringLiteral("handshake-lost"),
                        QStringLiteral("client %1 lost: %2: %3").arg(peer, reasonName, why),
                        {{QStringLiteral("peer"), peer},
                         {QStringLiteral("reason"), reasonName},
                         {QStringLiteral("message"), why}},
                        true);
            return;
        }
        if (reason == QtKeepAlive::ClientLossReason::RefusedOverLimit) {
            ++m_refused;
            const QString peer = endpoint(socket->peerAddress(), socket->peerPort());
            m_out.event(QStringLiteral("refused"),
                        QStringLiteral("refused %1: %2 client(s) connected, --max-clients %3")
                                .arg(peer)
                                .arg(m_server.clientCount())
                                .arg(m_settings.maxClients),
                        {{QStringLiteral("peer"), peer},
                         {QStringLiteral("reason"), reasonName},
                         {QStringLiteral("maxClients"), m_settings.maxClients}},
                        true);
            return;
        }
        const auto it = m_clients.constFind(socket);
        if (it == m_clients.cend()) {
            // Lost in its handshake (a dead peer) or before it was taken.
            const QString peer = endpoint(socket->peerAddress(), socket->peerPort());
            ++m_dead;
            m_out.event(QStringLiteral("lost"),
                        QStringLiteral("client %1 lost before it was accepted: %2: %3")
                                .arg(peer, reasonName, socket->errorString()),
                        {{QStringLiteral("peer"), peer},
                         {QStringLiteral("reason"), reasonName},
                         {QStringLiteral("message"), socket->errorString()},
                         {QStringLiteral("health"), toJson(atDeath)}},
                        true);
            return;
        }
        Client &client = **it;
        client.lost = true;
        QString why;
        if (reason == QtKeepAlive::ClientLossReason::IdleTimeout) {
            ++m_reaped;
            why = QStringLiteral("received nothing for %1, closed")
                          .arg(formatDuration(m_server.idleTimeout()));
        } else {
            ++m_dead;
            why = socket->errorString();
        }
        m_out.event(QStringLiteral("lost"),
                    QStringLiteral("client #%1 %2 lost: %3: %4; TCP_INFO: %5")
                            .arg(client.id)
                            .arg(client.peer, reasonName, why, describe(atDeath)),
                    {{QStringLiteral("client"), client.id},
                     {QStringLiteral("peer"), client.peer},
                     {QStringLiteral("reason"), reasonName},
                     {QStringLiteral("message"), why},
                     {QStringLiteral("health"), toJson(atDeath)}},
                    true);
    }

    void onDisconnected(Socket *socket)
    {
        const auto it = m_clients.find(socket);
        if (it == m_clients.end())
            return;
        const std::shared_ptr<Client> client = *it;
        m_clients.erase(it);
        socket->deleteLater();
        if (!client->lost) {
            ++m_closed;
            m_out.event(QStringLiteral("closed"),
                        QStringLiteral("client #%1 %2 %3 (%4 connected)")
                                .arg(client->id)
                                .arg(client->peer,
                                     m_stopping ? QStringLiteral("closed by the server")
                                                : QStringLiteral("closed the connection (orderly)"))
                                .arg(m_clients.size()),
                        {{QStringLiteral("client"), client->id},
                         {QStringLiteral("peer"), client->peer},
                         {QStringLiteral("clients"), qint64(m_clients.size())}},
                        true);
        }
        if (m_stopping && m_clients.isEmpty())
            finish();
    }

    void printStats()
    {
        QJsonObject fields{{QStringLiteral("clients"), qint64(m_clients.size())},
                           {QStringLiteral("accepted"), m_accepted},
                           {QStringLiteral("closed"), m_closed},
                           {QStringLiteral("dead"), m_dead},
                           {QStringLiteral("reaped"), m_reaped},
                           {QStringLiteral("refused"), m_refused},
                           {QStringLiteral("handshakesLost"), m_handshakesLost}};
        QList<const KeepAliveHeartbeat *> heartbeats;
        for (const auto &client : m_clients) {
            if (client->heartbeat)
                heartbeats.append(client->heartbeat);
        }
        const QString roundTrip = roundTripSummary(heartbeats, &fields);
        m_out.event(QStringLiteral("stats"),
                    QStringLiteral("stats: clients %1, accepted %2, closed %3, dead %4, reaped "
                                   "%5, refused %6%7%8")
                            .arg(m_clients.size())
                            .arg(m_accepted)
                            .arg(m_closed)
                            .arg(m_dead)
                            .arg(m_reaped)
                            .arg(m_refused)
                            .arg(IsTls ? QStringLiteral(", handshakes lost %1").arg(m_handshakesLost)
                                       : QString())
                            .arg(roundTrip),
                    fields, true);
    }

    void finish()
    {
        if (m_finished)
            return;
        m_finished = true;
        m_out.event(QStringLiteral("exit"), QStringLiteral("exit 0"), {{QStringLiteral("code"), 0}},
                    true);
        QCoreApplication::exit(ExitOrderly);
    }

    const Settings m_settings;
    Output &m_out;
    KeepAliveTcpServer m_server;
    QHash<Socket *, std::shared_ptr<Client>> m_clients;
    QTimer m_statsTimer;
    int m_accepted = 0;
    int m_closed = 0;
    int m_dead = 0;
    int m_reaped = 0;
    int m_refused = 0;
    int m_handshakesLost = 0;
    bool m_stopping = false;
    bool m_finished = false;
};

// --tls CERT KEY and --handshake-timeout.
std::optional<UsageError> parseTlsSettings(const QCommandLineParser &parser, Settings *settings)
{
    const QStringList tls = parser.values(QStringLiteral("tls"));
    if (tls.isEmpty()) {
        if (parser.isSet(QStringLiteral("handshake-timeout")))
            return UsageError{QStringLiteral("--handshake-timeout needs --tls")};
        return std::nullopt;
    }
    // QCommandLineParser takes one value per option: the key is the next
    // positional argument.
    const QStringList rest = parser.positionalArguments();
    if (tls.size() != 1 || rest.size() != 1)
        return UsageError{QStringLiteral("--tls takes two files: --tls CERT KEY")};
    if (!QSslSocket::supportsSsl())
        return UsageError{QStringLiteral("--tls: this Qt has no TLS backend (%1)")
                                  .arg(QSslSocket::activeBackend())};
    const QString certificateFile = tls.constFirst();
    settings->certificates = QSslCertificate::fromPath(certificateFile, QSsl::Pem,
                                                       QSslCertificate::PatternSyntax::FixedString);
    if (settings->certificates.isEmpty())
        return UsageError{QStringLiteral("--tls \"%1\": no PEM certificate could be read from it")
                                  .arg(certificateFile)};
    const QString keyFile = rest.constFirst();
    QFile file(keyFile);
    if (!file.open(QIODevice::ReadOnly))
        return UsageError{QStringLiteral("--tls key \"%1\": %2").arg(keyFile, file.errorString())};
    const QByteArray pem = file.readAll();
    for (const QSsl::KeyAlgorithm algorithm : {QSsl::Rsa, QSsl::Ec, QSsl::Dsa}) {
        settings->key = QSslKey(pem, algorithm);
        if (!settings->key.isNull())
            break;
    }
    if (settings->key.isNull())
        return UsageError{QStringLiteral("--tls key \"%1\": no unencrypted PEM private key "
                                         "(RSA, EC or DSA) could be read from it")
                                  .arg(keyFile)};
    if (parser.isSet(QStringLiteral("handshake-timeout"))) {
        UsageError error;
        // The server's own check names the range; 0 and negative values reach it.
        settings->handshakeTimeout =
                parseDuration(QStringLiteral("handshake-timeout"),
                              parser.value(QStringLiteral("handshake-timeout")), &error, Sign::Any);
        if (!settings->handshakeTimeout)
            return error;
    }
    return std::nullopt;
}

// The description, --help, --version and the options, in the order --help lists them.
QList<QCommandLineOption> describeCommandLine(QCommandLineParser &parser)
{
    parser.setApplicationDescription(
            QStringLiteral("An echo server for keepalive-client: answers every heartbeat "
                           "request (\"HeartBeat\") with the reply (\"OK\") and echoes "
                           "everything else; applies the keepalive options to every accepted "
                           "client; logs connects, lost clients with the reason (dead peer, "
                           "idle, refused) and orderly closes.\n\n"
                           "Durations are seconds (2, 0.5) or carry a unit (500ms, 1.5s, 2min, "
                           "1h); keepalive idle and interval are rounded up to whole seconds.\n\n")
            + exitCodeHelp(true));
    parser.addHelpOption();
    parser.addVersionOption();
    QList<QCommandLineOption> options{
            {QStringLiteral("listen"),
             QStringLiteral("Address to listen on (127.0.0.1 by default; 0.0.0.0 or :: for every "
                            "interface)."),
             QStringLiteral("address")},
            {QStringLiteral("port"),
             QStringLiteral("Port to listen on (default 5050; 0 picks a free one and prints it)."),
             QStringLiteral("port")},
    };
    options.append(keepAliveCommandLineOptions());
    options.append({
            {QStringLiteral("idle-timeout"),
             QStringLiteral("Close clients that sent nothing for DURATION (default off)."),
             QStringLiteral("duration|off")},
            {QStringLiteral("max-clients"),
             QStringLiteral("Refuse clients beyond N connected at a time (default 0: no limit)."),
             QStringLiteral("n")},
            {QStringLiteral("heartbeat-request"),
             QStringLiteral("The heartbeat to answer instead of echoing it (escapes \\n \\r \\t "
                            "\\\\ \\xHH). Default \"HeartBeat\"."),
             QStringLiteral("text")},
            {QStringLiteral("heartbeat-reply"),
             QStringLiteral("The answer to each heartbeat. Default \"OK\"."),
             QStringLiteral("text")},
            {QStringLiteral("heartbeat"),
             QStringLiteral("Also watch every client with an application heartbeat: after "
                            "INTERVAL without receiving, send it the heartbeat request; a client "
                            "that sends nothing for MAXMISSED of them (default 3) is lost "
                            "(HeartbeatTimeout). Clients that answer (an echo) give the "
                            "round-trip times --stats shows."),
             QStringLiteral("interval[,maxmissed]")},
            {QStringLiteral("stats"),
             QStringLiteral("Print a one-line summary (clients, dead, reaped, refused, the "
                            "heartbeat's round-trip times) every INTERVAL."),
             QStringLiteral("interval")},
            {QStringLiteral("tls"),
             QStringLiteral("Speak TLS (KeepAliveSslServer) with the certificate chain in CERT "
                            "and the unencrypted private key in KEY (PEM files): --tls CERT KEY. "
                            "Clients are accepted once their handshake is done."),
             QStringLiteral("cert")},
            {QStringLiteral("handshake-timeout"),
             QStringLiteral("With --tls: drop a client whose handshake is not done within "
                            "DURATION (default 10 s)."),
             QStringLiteral("duration")},
            {QStringLiteral("quiet"),
             QStringLiteral("Log only connects, losses, closes, refusals and the summary.")},
            {QStringLiteral("json"),
             QStringLiteral("One JSON object per line and event, for scripts.")},
    });
    return options;
}

// --idle-timeout and --max-clients. Negative values are for the server's own
// validation to refuse; an idle timeout of 0 would silently mean "off",
// which has its own spelling.
std::optional<UsageError> parseClientSettings(const QCommandLineParser &parser, Settings *settings)
{
    UsageError error;
    const QString idleText = parser.value(QStringLiteral("idle-timeout"));
    if (parser.isSet(QStringLiteral("idle-timeout")) && idleText != QLatin1String("off")) {
        settings->idleTimeout =
                parseDuration(QStringLiteral("idle-timeout"), idleText, &error, Sign::Any);
        if (!settings->idleTimeout)
            return error;
        if (settings->idleTimeout->count() == 0)
            return UsageError{QStringLiteral("--idle-timeout %1: must be greater than 0 (or off)")
                                      .arg(idleText)};
    }
    if (parser.isSet(QStringLiteral("max-clients"))) {
        const QString maxText = parser.value(QStringLiteral("max-clients"));
        const std::optional<qint64> max =
                parseInteger(QStringLiteral("max-clients"), maxText, &error);
        if (!max)
            return error;
        if (*max > std::numeric_limits<int>::max())
            return UsageError{QStringLiteral("--max-clients %1: too large").arg(maxText)};
        settings->maxClients = int(qMax<qint64>(*max, std::numeric_limits<int>::min()));
    }
    return std::nullopt;
}

// --heartbeat-request and --heartbeat-reply.
std::optional<UsageError> parsePayloadSettings(const QCommandLineParser &parser, Settings *settings)
{
    for (const QString &option :
         {QStringLiteral("heartbeat-request"), QStringLiteral("heartbeat-reply")}) {
        if (!parser.isSet(option))
            continue;
        UsageError error;
        const std::optional<QByteArray> payload =
                parsePayload(option, parser.value(option), &error);
        if (!payload)
            return error;
        (option == QLatin1String("heartbeat-request") ? settings->request : settings->reply) =
                *payload;
    }
    return std::nullopt;
}

// Everything the command line sets, checked in the order of the usage errors' precedence.
std::optional<UsageError> parseSettings(const QCommandLineParser &parser, Settings *settings)
{
    if (std::optional<UsageError> tlsError = parseTlsSettings(parser, settings))
        return tlsError;
    if (settings->certificates.isEmpty() && !parser.positionalArguments().isEmpty())
        return UsageError{QStringLiteral("unexpected argument \"%1\" (see --help)")
                                  .arg(parser.positionalArguments().constFirst())};
    if (std::optional<UsageError> listenError =
                parseListen(parser, QStringLiteral("listen"), &settings->address, &settings->port))
        return listenError;
    UsageError error;
    const std::optional<KeepAliveOptions> options = keepAliveOptionsFromCommandLine(parser, &error);
    if (!options)
        return error;
    settings->options = *options;
    if (std::optional<UsageError> clientError = parseClientSettings(parser, settings))
        return clientError;
    if (std::optional<UsageError> payloadError = parsePayloadSettings(parser, settings))
        return payloadError;
    if (parser.isSet(QStringLiteral("heartbeat"))) {
        settings->heartbeat = parseHeartbeatSetting(
                QStringLiteral("heartbeat"), parser.value(QStringLiteral("heartbeat")), &error);
        if (!settings->heartbeat)
            return error;
    }
    if (parser.isSet(QStringLiteral("stats"))) {
        settings->stats = parseTimerDuration(parser, QStringLiteral("stats"), &error);
        if (!settings->stats)
            return error;
    }
    return std::nullopt;
}

// Listens and serves until a stop signal comes. The server's own checks
// name the command-line values they reject.
template<typename KeepAliveTcpServer>
int serve(const Settings &settings, const QCommandLineParser &parser)
{
    Output out(parser.isSet(QStringLiteral("json")), parser.isSet(QStringLiteral("quiet")));
    Server<KeepAliveTcpServer> server(settings, out);
    if (const std::optional<UsageError> settingError =
                server.configure(parser.value(QStringLiteral("idle-timeout")),
                                 parser.value(QStringLiteral("max-clients")),
                                 parser.value(QStringLiteral("handshake-timeout")),
                                 parser.value(QStringLiteral("heartbeat"))))
        return usage(*settingError);
    StopSignals stopSignals;
    QObject::connect(&stopSignals, &StopSignals::stopRequested, &server,
                     &Server<KeepAliveTcpServer>::stop);
    if (!server.listen())
        return ExitNetwork;
    return QCoreApplication::exec();
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    setUpTool(QStringLiteral("keepalive-server"));

    QCommandLineParser parser;
    const QList<QCommandLineOption> options = describeCommandLine(parser);
    if (const std::optional<int> exitCode = handleCommandLine(parser, options, app.arguments()))
        return *exitCode;

    Settings settings;
    if (const std::optional<UsageError> error = parseSettings(parser, &settings))
        return usage(*error);
    if (!settings.certificates.isEmpty())
        return serve<KeepAliveSslServer>(settings, parser);
    return serve<KeepAliveServer>(settings, parser);
}
