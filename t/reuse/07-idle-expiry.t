# Idle connections give their workers back: a pool's kept connection closes
# once it has been idle for the pool's idle_timeout (vhost vf_reuse_idle:
# fcgi-misbehave over TCP, idle_timeout=1), not before, and not much later.
#
# And closing them costs an idle server nothing: the thread that closes
# them (vf_conn.c's reaper) sleeps while its httpd process keeps no
# connection idle, instead of waking every 50 ms in every child for ever.
# Measured as the context switches of all threads of each httpd child over
# 3 s without a request, once no pool has a connection idle.  The build
# whose reaper woke every 50 ms regardless made 59 per child here, this
# one 0.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status);
use Time::HiRes qw(time sleep);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built' unless misbehave_available();
plan skip_all => 'needs /proc' unless -r "/proc/$$/task/$$/status";
plan tests => 8;

my $name = "fcgi://127.0.0.1:$ENV{VF_MB_PORT}";

my $ok = 0;
for (1 .. 5) {
    my $res = raw_request('vf_reuse_idle', 'GET', '/mbh/hello.php');
    $ok++ if $res->{status} == 200;
}
my $last = time;
is($ok, 5, 'five requests through the pool');
my $s = pool_status($name);
ok($s && $s->{open} >= 1 && $s->{idle} >= 1, 'its connection is kept idle')
    or diag(explain($s));

# Until the connection is gone.
my $closed;
while (time - $last < 8) {
    $s = pool_status($name);
    if ($s && $s->{open} == 0) { $closed = time - $last; last }
    sleep 0.1;
}
ok(defined $closed, 'the idle connection was closed') or diag(explain($s));
$closed //= 99;
diag(sprintf 'closed %.2f s after the last request', $closed);
cmp_ok($closed, '>=', 0.9, 'not before idle_timeout (1 s)');
cmp_ok($closed, '<', 3, 'soon after it');

# Until no pool keeps a connection idle (earlier tests' ones expire too).
sub all_idle {
    require JSON::PP;
    my $res = raw_request('vf_reuse_fpm', 'GET', '/vf-status?json');
    my $data = eval { JSON::PP::decode_json($res->{body}) } or return -1;
    my $n = 0;
    for my $list (grep { ref $_ eq 'ARRAY' } values %$data) {
        $n += $_->{idle} // 0 for grep { ref $_ eq 'HASH' } @$list;
    }
    return $n;
}
my $idle = -1;
for (1 .. 80) {
    last if ($idle = all_idle()) == 0;
    sleep 0.1;
}
is($idle, 0, 'no pool keeps a connection idle');

# Context switches of all threads of a process, so far.
sub switches {
    my $pid = shift;
    my $n = 0;
    for my $st (glob "/proc/$pid/task/*/status") {
        open my $fh, '<', $st or next;
        while (my $line = <$fh>) {
            $n += $1 if $line =~ /^(?:non)?voluntary_ctxt_switches:\s+(\d+)/;
        }
    }
    return $n;
}
sleep 0.5;
my @kids = httpd_children();
ok(@kids >= 1, "httpd's children found") or diag("no httpd children");
my %before = map { ($_, switches($_)) } @kids;
sleep 3;
my %delta = map { ($_, switches($_) - $before{$_}) } @kids;
diag('context switches in 3 s without a request, per httpd child: '
     . join(', ', map { "$_: $delta{$_}" } @kids));
my ($most) = sort { $b <=> $a } values %delta;
cmp_ok($most // 0, '<', 30, 'an idle httpd child hardly wakes');
