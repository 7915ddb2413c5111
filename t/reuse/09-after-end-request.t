# Records a backend sends after its END_REQUEST never answer the next
# request on the kept connection.  Each request has an id of its own
# (they rotate), so such records fail the id check: the next request gets
# its own answer, or a 502 whose log line names the unexpected id, never
# the leftover; and the request after it is not answered with the answer
# meant for the one before (the mix-up would go on down the connection).
# Data that arrives right behind END_REQUEST is logged (AH10723) and the
# connection is closed, not reused.
#
# vf_reuse_mb: fcgi-misbehave as a URL pool that keeps its connections.
# Scenario extra-end: a complete answer ("first answer"), then ?ms=500
# later a second complete one for the same request id ("LEFTOVER ...",
# empty STDOUT, END_REQUEST); ?ms=0: both in one write.  The requests go
# one after the other on one client connection, so one httpd child serves
# them and the next one takes the connection extra-end's request left
# idle (the idle stack is LIFO) before the leftover arrives.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built (make tools)'
    unless misbehave_available() && $ENV{VF_MB_REUSE_SOCK};
plan tests => 6 + 4;

# The echo's own answer to ?who=$who: its QUERY_STRING line.
sub own_answer {
    my ($res, $who) = @_;
    return ($res->{status} // 0) == 200
        && $res->{body} =~ /^QUERY_STRING=who=\Q$who\E$/m
        && $res->{body} !~ /LEFTOVER/;
}

sub show {
    my $res = shift;
    return ($res->{status} // 'no response') . ' '
        . join('|', grep { /LEFTOVER|first answer|^QUERY_STRING=/ }
                    split /\n/, $res->{body} // '');
}

# --- leftover arriving while the next request waits for its answer ----------
{
    my $sock = raw_connect('vf_reuse_mb');
    my $mark = log_mark();
    my $a = send_request($sock, 'GET', '/mbh/extra-end.php?ms=500', timeout => 30);
    my $b = send_request($sock, 'GET', '/mbh/echo.php?who=B', timeout => 30);
    my $c = send_request($sock, 'GET', '/mbh/echo.php?who=C', timeout => 30);
    close $sock;
    diag('A: ' . show($a) . '; B: ' . show($b) . '; C: ' . show($c));

    is($a->{status}, 200, 'extra-end: 200');
    is($a->{body}, "first answer\n", 'extra-end: its own (first) answer');
    unlike($b->{body} // '', qr/LEFTOVER/,
           'the next request on the connection never gets the leftover as its answer');
    my $b_502 = ($b->{status} // 0) == 502;
    ok(own_answer($b, 'B') || $b_502,
       'the next request gets its own answer, or a 502')
        or diag('B: ' . show($b));
    my $log = log_since($mark);
    my ($got, $want) = $log =~ m{AH10640: .*/mbh/echo\.php\): unexpected request id (\d+), expected (\d+)};
  SKIP: {
        skip 'no 502 to explain', 1 unless $b_502;
        ok(defined $got && $got != $want,
           "its 502 is explained in the error log: a record with another request's id")
            or diag(join "\n", grep { /AH10[67]\d\d/ } split /\n/, $log);
    }
    ok(own_answer($c, 'C'), 'the request after it gets its own answer, not the one before')
        or diag('C: ' . show($c));
}

# --- leftover right behind END_REQUEST --------------------------------------
{
    my $sock = raw_connect('vf_reuse_mb');
    my $mark = log_mark();
    my $a = send_request($sock, 'GET', '/mbh/extra-end.php?ms=0', timeout => 30);
    my $b = send_request($sock, 'GET', '/mbh/echo.php?who=B0', timeout => 30);
    close $sock;
    diag('A: ' . show($a) . '; B: ' . show($b));

    is($a->{status}, 200, 'extra-end?ms=0: 200');
    is($a->{body}, "first answer\n", 'extra-end?ms=0: its own (first) answer');
    ok(own_answer($b, 'B0'), 'extra-end?ms=0: the next request gets its own answer')
        or diag('B: ' . show($b));
    ok(log_wait_for($mark, qr{AH10723: FastCGI backend \S+ sent \d+ bytes after END_REQUEST; the connection is closed}, 5),
       'extra-end?ms=0: the error log says data followed END_REQUEST and the connection was closed')
        or diag(join "\n", grep { /AH10[67]\d\d/ } split /\n/, log_since($mark));
}
