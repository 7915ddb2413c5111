# Faults: backends that are not there, that break the FastCGI protocol,
# send malformed CGI headers, go silent, or die half-way through a
# response (build/bin/fcgi-misbehave, scenario = last URL segment).
#
#   cannot connect                   -> 503, errno text in the error log
#   malformed records / headers      -> 502 (and an error logged)
#   Status: 1xx (interim, never final) -> 502, "invalid Status" logged
#   silent past the timeout (2 s)    -> 504
#   broken after the headers were sent -> the client sees an aborted
#                                       response, never a complete one
# and afterwards the same httpd, with no child crashed, serves on.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use IO::Select ();

# [scenario, what stock mod_proxy_fcgi 2.4 does instead, whether stock logs
# an error]: a non-empty note makes the status test a TODO under
# VF_MODULE=stock (expected to fail there), and so does a 0 for the log test.
my @bad_gateway = (
    ['close-now',     '503: a backend that closes at once counts as unavailable', 1],
    ['close-headers', '503 for a backend closing in the middle of the headers', 1],
    ['wrong-version', '503 for a record with FastCGI version 2', 1],
    ['wrong-id',      '503 for a record of another request id', 1],
    ['no-colon',      '500 (ap_scan_script_header_err) for a header line without a colon', 1],
    ['crlf-value',    '200, passes "X-Split: aSet-Cookie: evil=1" on (CR dropped)', 0],
    ['lf-value',      '200, passes the value cut at the NUL ("X-Nul: a")', 0],
    ['obs-fold',      '500 for an obs-fold header line', 1],
    ['huge-headers',  '200, passes the whole 1 MB header block on to the client', 0],
    ['end-first',     '200 with an empty body when END_REQUEST comes first', 0],
);

# Status codes a backend may not give as a response's status: interim.
my @interim = (100, 101, 103);

plan tests => 6 + 2 * @bad_gateway + 2 * @interim + 2 + 3 + 3 + 4 + 6 + 3 + 5;

my $start_mark = log_mark();
my $parent = VhostFcgi::Test::httpd_parent_pid();

# --- cannot connect ---------------------------------------------------------
{
    my $mark = log_mark();
    my $res = raw_request('vf_fault', 'GET', '/nosock/x.php');
    is($res->{status}, 503, 'unix socket path that does not exist: 503');
    ok(log_wait_for($mark, qr/No such file or directory/),
       'missing socket: the error log names the errno ("No such file or directory")');
    like(log_since($mark), qr/\Q$ENV{VF_NOSOCK}\E|no-such-dir/,
         'missing socket: the error log names the socket path');

    $mark = log_mark();
    $res = raw_request('vf_fault', 'GET', '/noport/x.php');
    is($res->{status}, 503, 'TCP port with nothing listening: 503');
    ok(log_wait_for($mark, qr/Connection refused/),
       'refused: the error log names the errno ("Connection refused")');
    like(log_since($mark), qr/127\.0\.0\.1:$ENV{VF_DEAD_PORT}|:$ENV{VF_DEAD_PORT}\b/,
         'refused: the error log names the backend address');
}

SKIP: {
    skip 'fcgi-misbehave not built (make tools)', 2 * @bad_gateway + 2 * @interim + 26
        unless misbehave_available();

    # --- malformed responses: 502 ------------------------------------------
    for my $case (@bad_gateway) {
        my ($sc, $stock, $stock_logs) = @$case;
        my $mark = log_mark();
        my $res = raw_request('vf_fault', 'GET', "/mb/$sc", timeout => 30);
        {
            local $TODO = stock_todo($stock);
            is($res->{status}, 502, "$sc: 502 Bad Gateway")
                or diag("got " . ($res->{status} // 'no response') .
                        ($res->{status} ? "; headers:\n" . substr($res->{head_raw}, 0, 2000) : ''));
        }
        local $TODO = $stock_logs ? undef : stock_todo('logs nothing');
        ok(log_wait_for($mark, qr/:(?:error|crit|warn)\]/, 2),
           "$sc: an error is logged");
    }

    # --- Status: 1xx: an interim status is never the final one -------------
    # (Read raw, up to the close: read_response would skip a 1xx head.)
    for my $code (@interim) {
        my $mark = log_mark();
        my $sock = raw_connect('vf_fault');
        print $sock "GET /mb/status?code=$code HTTP/1.1\r\nHost: localhost\r\n"
                    . "Connection: close\r\n\r\n";
        my ($raw, $sel) = ('', IO::Select->new($sock));
        while ($sel->can_read(15)) {
            last unless sysread($sock, $raw, 65536, length $raw);
        }
        close $sock;
        my @status_lines = $raw =~ m{^(HTTP/\d\.\d \d{3}[^\r\n]*)}mg;
        local $TODO = stock_todo("passes Status: $code on as the final status (a broken response)");
        ok(@status_lines == 1 && $status_lines[0] =~ m{^HTTP/1\.1 502 },
           "Status: $code from the backend: the client gets one response, a 502")
            or diag('got: ' . join(' | ', @status_lines)
                    . (length $raw ? '' : ' (nothing)'));
        $TODO = stock_todo('logs nothing');
        ok(log_wait_for($mark, qr/AH10640: .*\/mb\/status\): invalid Status header "$code /, 2),
           "Status: $code: the error log says \"invalid Status header\"")
            or diag(log_since($mark));
    }

    # crlf-value: whatever the status, the injected header never reaches
    # the client as a header of its own.
    {
        my $res = raw_request('vf_fault', 'GET', '/mb/crlf-value');
        ok(!grep({ $_->[0] eq 'set-cookie' } @{ $res->{headers} }),
           'crlf-value: no client-visible Set-Cookie header');
        unlike($res->{head_raw} // '', qr/(?:^|[\r\n])Set-Cookie:\s*evil=1/i,
               'crlf-value: "Set-Cookie: evil=1" nowhere in the response head');
    }

    # --- silent backend: 504 after the worker timeout (2 s) ----------------
    {
        my $res = raw_request('vf_fault', 'GET', '/mb/silent', timeout => 30);
        is($res->{status}, 504, 'silent backend: 504 Gateway Timeout');
        cmp_ok($res->{elapsed}, '>=', 1.5, 'silent: answered after the timeout, not before');
        cmp_ok($res->{elapsed}, '<', 15, 'silent: answered soon after the 2 s timeout');
    }

    # --- broken after the headers: aborted, never complete -----------------
    {
        my $res = raw_request('vf_fault', 'GET', '/mb/close-body', timeout => 30);
        is($res->{status}, 200, 'close-body: the headers went out (200)');
        ok(!$res->{complete}, 'close-body: the client sees an incomplete response')
            or diag("chunked=" . ($res->{chunked} // 0) . " body_len=$res->{body_len}");
        cmp_ok($res->{body_len}, '<=', 1000, 'close-body: no invented bytes');
    }
    # short-content declares a 1000-byte record holding the start of the
    # header block and delivers 10 bytes; bad-padding's record is complete
    # but its padding never comes.  Either may be noticed before or after a
    # handler sent headers: a 502, or an aborted response, never a clean one.
    for my $case (['short-content', '503 for a truncated record'],
                  ['bad-padding',   '']) {
        my ($sc, $stock) = @$case;
        my $res = raw_request('vf_fault', 'GET', "/mb/$sc", timeout => 30);
        local $TODO = stock_todo($stock);
        my $st = $res->{status} // 0;
        ok($st == 502 || ($st >= 200 && $st < 300 && !$res->{complete}),
           "$sc: 502, or an aborted response, never a complete one")
            or diag("status $st complete=$res->{complete}");
    }
    {
        my $res = raw_request('vf_fault', 'GET', '/mb/no-end', timeout => 30);
        ok(defined $res->{status} || $res->{eof},
           'no-end (STDOUT complete, no END_REQUEST): answered or closed, not hung');
        ok(!$res->{timed_out}, 'no-end: no client timeout');
    }

    # --- odd but legal, or at least survivable, backends -------------------
    # [request, acceptable statuses, expected body or undef, stock note]
    for my $case (['exit-status?status=3', [200], "ok\n"],        # app status is not HTTP status
                  ['drip?ms=10',           [200], "drip\n"],      # one byte per record, slowly
                  ['drip?ms=5&wire=1',     [200], "drip\n"],      # record headers split across reads
                  ['unknown-type',         [200, 502], undef],
                  # DESIGN: FCGI_OVERLOADED is "busy": another member or 503.
                  ['overloaded',           [502, 503], undef, '200 with an empty body'],
                  ['unknown-role',         [500, 502, 503], undef, '200 with an empty body']) {
        my ($req, $ok, $body, $stock) = @$case;
        my $res = raw_request('vf_fault', 'GET', "/mb/$req", timeout => 30);
        local $TODO = stock_todo($stock);
        my $st = $res->{status} // 0;
        ok((grep { $st == $_ } @$ok) && (!defined $body || $res->{body} eq $body),
           "$req: answers " . join('/', @$ok) . (defined $body ? ' with the full body' : ''))
            or diag("got $st, body " . substr($res->{body}, 0, 200));
    }

    # --- the same faults over TCP ------------------------------------------
    {
        my $res = raw_request('vf_fault', 'GET', '/mbtcp/echo');
        is($res->{status}, 200, 'TCP backend: echo answers 200');
        local $TODO = stock_todo('503: a backend that closes at once counts as unavailable');
        $res = raw_request('vf_fault', 'GET', '/mbtcp/close-now');
        is($res->{status}, 502, 'TCP backend: close-now gives 502');
        undef $TODO;
        $res = raw_request('vf_fault', 'GET', '/mbtcp/silent', timeout => 30);
        is($res->{status}, 504, 'TCP backend: silent gives 504');
    }

    # --- the server lives on ---------------------------------------------------
    {
        my $res = raw_request('vf_fault', 'GET', '/mb/echo');
        is($res->{status}, 200, 'after the faults: the misbehave echo still answers');
        $res = raw_request('vf_unix', 'GET', '/php/hello.php');
        is($res->{status}, 200, 'after the faults: php-fpm requests still work');
        like($res->{body}, qr/^hello from php/, 'after the faults: with the right body');
        unlike(log_since($start_mark), qr/exit signal|child pid \d+ exit/i,
               'no httpd child crashed during the fault tests');
        is(VhostFcgi::Test::httpd_parent_pid(), $parent, 'the same httpd serves on');
    }
}
