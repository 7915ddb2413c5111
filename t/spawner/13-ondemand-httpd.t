#!/usr/bin/perl
# An ondemand pool behind httpd.  A connection kept idle in one httpd
# process holds the pool's worker (blocked reading it, busy to the
# spawner), so a request that arrives through the other process would
# wait for a second worker to start - a php-cgi cold start - while the
# first sits idle.  The module therefore keeps no idle connection to a pool
# the pools file runs ondemand: requests one after another on fresh client
# connections, spread over httpd's two processes, are all served by the one
# worker the first of them started.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../soak/lib";
use Test::More;
use Time::HiRes qw(sleep);
use VFSoak;

plan skip_all => 'needs root' if $> != 0;

my ($dir, $bins) = php_site('vfondemand',
                            'pid.php' => "<?php echo getmypid(), \"\\n\";\n");

my $h = httpd_start(
    dir => $dir, bins => $bins, spawner => 1,
    pools => php_pool_conf(
        dir => $dir, name => 'od', user => 'vfsoak-a', log_level => 'debug',
        pm => [ pm => 'ondemand', 'pm.max_children' => 3,
                'pm.process_idle_timeout' => '60s',
                'env[SOAK_POOL]' => '$pool' ]),
    vhosts => [ { name => 'od.test', root => "$dir/site", pool => 'od' } ],
    # Which httpd process served each request.
    extra => qq{CustomLog "$dir/logs/pid.log" "%P %U"\n},
);
my $spawner = spawner_of($h);
is(scalar pool_workers($spawner, 'od'), 0, 'idle ondemand pool: no worker');

# One request per client connection, until each httpd process has served
# at least three (which process accepts a connection is the kernel's
# choice), at most 200 (one run of about 25 saw 60 in a row go to one process).
my (%worker, $n, $bad);
for ($n = 1; $n <= 200; $n++) {
    my $c = VFSoak::Client->new(port => $h->{port}, timeout => 20);
    my $r = $c->request(host => 'od.test', path => "/pid.php?n=$n");
    $c->close;
    if (($r->{status} // 0) != 200) {
        $bad //= "request $n: " . ($r->{status} // $r->{error} // '?');
        next;
    }
    $worker{ $r->{body} =~ s/\s+//gr }++;
    my %served;
    $served{$_}++ for map { (split)[0] }
                      grep { m{ /pid\.php$} } split /\n/,
                      read_file("$dir/logs/pid.log");
    last if keys %served >= 2 && !grep { $_ < 3 } values %served;
    sleep 0.1;
}
ok(!$bad, 'every request answered 200') or diag $bad;
my %served;
$served{$_}++ for map { (split)[0] }
                  grep { m{ /pid\.php$} } split /\n/,
                  read_file("$dir/logs/pid.log");
cmp_ok(scalar keys %served, '>=', 2,
       'the requests came through both httpd processes')
    or diag explain \%served;
is(scalar keys %worker, 1, 'one php-cgi worker served them all')
    or diag explain \%worker;
is(scalar pool_workers($spawner, 'od'), 1, 'the pool started one worker');

my $st = status_json($h, 'od.test');
ok($st && $st->{od}, 'status page lists the pool') or diag explain $st;
is($st->{od}{idle}, 0, 'no connection kept idle') if $st && $st->{od};

unlike(read_file($h->{errlog}), qr/\[(?:[\w:]*:)?(?:error|crit|alert|emerg)\]/,
       'no error in the error log');
httpd_stop($h);
done_testing();
