# Requests over a capped pool's max wait in httpd and get a finishing
# request's connection handed over; when the finishing request's whole
# answer is already in the socket, the waiting request is written on the
# connection before that answer is passed on (vf_exchange.c, write_next_early).
# Every answer must still reach the request it belongs to: 16 keep-alive
# clients, 4 connections (fcgi-misbehave, vhost vf_reuse_mb, max=4), each
# request with a token of its own in the query string, which the "echo"
# scenario sends back as QUERY_STRING (after 1 ms, so requests queue).
# And the early path must really be taken: the vhost logs its trace2 line
# for each time it is.
#
# And never while a request is still being written: 20 uploads of 1 MB
# that the backend answers (413) before it reads them ("answer-early"),
# while 24 clients keep requests waiting, find the socket full and the
# whole answer there; a waiting request written then would land inside the
# upload's STDIN stream (a build without that check failed 3 runs of 3
# here, with 502s).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);
use VhostFcgi::Load ();
use POSIX ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built' unless misbehave_available();
plan tests => 7;

# Keep-alive clients on the echo scenario (after ms), each request with a
# token of its own (client pid and number) that must come back in its own
# answer as QUERY_STRING.
sub echo_load {
    my (%o) = @_;
    return VhostFcgi::Load::run(
        vhost => 'vf_reuse_mb', clients => $o{clients}, requests => $o{requests},
        keepalive => 1, deadline => 120, timeout => 30,
        path => sub { "/mbh/echo.php?ms=$o{ms}&tok=$$-$_[0]" },
        expect => sub {
            my ($path, $res) = @_;
            my ($query) = $path =~ /\?(.*)$/;
            return $res->{body} =~ /^QUERY_STRING=\Q$query\E$/m ? ''
                 : 'answer for another request: '
                   . (($res->{body} =~ /^QUERY_STRING=(.*)$/m)[0] // '(no QUERY_STRING)');
        });
}

my $mark = log_mark();
my $r = echo_load(clients => 16, requests => 1600, ms => 1);
diag('16 keep-alive clients, 4 connections, echo: ' . VhostFcgi::Load::summary($r));
is($r->{done}, 1600, 'every one of 1600 requests got an answer');
is($r->{ok}, 1600, 'each answer is 200 and carries its own request\'s token')
    or diag(join "\n", @{ $r->{errors} });

my $log = log_since($mark);
my $early = () = $log =~ /the next waiting request was written on the connection/g;
diag("requests written before the previous answer was read: $early");
SKIP: {
    skip PER_PROCESS_WHY, 1 if per_process_mpm();
    cmp_ok($early, '>', 0, 'waiting requests were written on connections ahead of reading the answer');
}
my @bad = grep { /\[(?:\w+:)?(?:error|crit|alert|emerg)\]/ } split /\n/, $log;
is(scalar @bad, 0, 'no error logged') or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);

# --- uploads answered before they are read, with requests waiting -------
my $body = 'x' x (1024 * 1024);
my $pid = fork // die "fork: $!";
if (!$pid) {
    # the uploads, one after another, while the parent's clients keep the
    # pool's 4 connections busy and requests waiting
    my ($n413, @other) = (0);
    for my $i (1 .. 20) {
        my $res = raw_request('vf_reuse_mb', 'POST', "/mbh/answer-early.php?ms=50&up=$i",
                              body => $body, timeout => 30);
        if (($res->{status} // 0) == 413) { $n413++ } else { push @other, $res->{status} // 'none' }
    }
    open my $fh, '>', t_logs_dir() . '/05-uploads.txt' or POSIX::_exit(1);
    print $fh "$n413 @other\n";
    close $fh;
    POSIX::_exit(0);
}
$mark = log_mark();
$r = echo_load(clients => 24, requests => 4000, ms => 2);
waitpid $pid, 0;
diag('24 clients, 2 ms, with 20 uploads answered before they are read: ' . VhostFcgi::Load::summary($r));
is($r->{ok}, 4000, 'every request answered 200 with its own token meanwhile')
    or diag(join "\n", @{ $r->{errors} });
my ($n413, @other) = split ' ', do { local (@ARGV, $/) = (t_logs_dir() . '/05-uploads.txt'); <> // '' };
is($n413, 20, 'each upload got its own 413') or diag("other answers: @other");
$log = log_since($mark);
@bad = grep { /\[(?:\w+:)?(?:error|crit|alert|emerg)\]/ } split /\n/, $log;
is(scalar @bad, 0, 'no error logged') or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
