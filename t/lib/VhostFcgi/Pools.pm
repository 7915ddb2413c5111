package VhostFcgi::Pools;
# Helpers for the pool tests (t/pools, issue 3; t/reuse, issue 4): whether
# their fixtures are there, the tenant sites, and php-fpm's access logs of
# the tenant pools, which prove whether a request reached the backend.
#
# The fixtures come from scripts/run-itest (see the VF_* list in
# VhostFcgi::Test): two sites laid out by VhostFcgi::Sites, php-fpm pools
# site-a / site-b (access logs t/logs/fpm-NAME.access.log, one line per
# request: "METHOD REQUEST_URI script=SCRIPT_FILENAME status=N pool=NAME"),
# and the pools file naming them.
use strict;
use warnings;

use Exporter 'import';
use File::Spec ();
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);

our @EXPORT_OK = qw(
    pools_skip_reason isolation_skip_reason site_doc site_extra
    access_mark access_since access_settle access_lines_for
    marker_ran evil_ran pool_status pool_status_until pool_figures
    pool_idle
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# Why the pool tests cannot run here, or undef.
sub pools_skip_reason {
    return 'VF_MODULE=stock: mod_proxy_fcgi has no VhostFcgiPool' if is_stock();
    return 'no pools fixtures: run the suite with scripts/run-itest'
        unless $ENV{VF_POOLS_FILE} && -f $ENV{VF_POOLS_FILE}
            && $ENV{VF_SITE_A_DOC} && $ENV{VF_SITE_B_DOC};
    return undef;
}

# ... and why the tests needing two different site identities cannot.
sub isolation_skip_reason {
    my $why = pools_skip_reason();
    return $why if $why;
    return 'not root: both sites run as the same user (VF_SITES_ISOLATED=0)'
        unless ($ENV{VF_SITES_ISOLATED} // '') eq '1';
    return undef;
}

sub site_doc {
    my $site = lc shift;
    return $site eq 'a' ? $ENV{VF_SITE_A_DOC} : $ENV{VF_SITE_B_DOC};
}

sub site_extra { $ENV{VF_SITE_A_EXTRA} }

# ---------------------------------------------------------------------------
# php-fpm access logs of the tenant pools

sub access_log_file {
    my $pool = shift;
    return File::Spec->catfile(t_logs_dir(), "fpm-$pool.access.log");
}

# The current end of pool $pool's access log.
sub access_mark { return -s access_log_file(shift) || 0 }

sub access_since {
    my ($pool, $mark) = @_;
    open my $fh, '<', access_log_file($pool) or return '';
    seek $fh, $mark // 0, 0;
    local $/;
    my $text = <$fh>;
    return $text // '';
}

# Everything pool $pool logged since $mark, once every request made before
# this call has been logged: a sentinel request (GET /s.php?sentinel-...
# through $vhost, a vhost of that pool) is sent and its own line awaited
# (bounded), then a moment more for a line of the pool's other worker.
# Returns the text, or undef when the sentinel never showed up.
sub access_settle {
    my ($vhost, $pool, $mark) = @_;
    my $tag = sprintf 'sentinel-%d-%06d', time, int rand 1e6;
    my $res = raw_request($vhost, 'GET', "/s.php?$tag", timeout => 20);
    my $deadline = time + 10;
    while (time < $deadline) {
        my $text = access_since($pool, $mark);
        if ($text =~ /\Q$tag\E/) {
            sleep 0.2;
            return access_since($pool, $mark);
        }
        sleep 0.05;
    }
    return undef;
}

# The lines of $text whose REQUEST_URI starts with $uri (sentinels aside).
sub access_lines_for {
    my ($text, $uri) = @_;
    return grep { /^\S+ \Q$uri\E/ } split /\n/, $text // '';
}

# ---------------------------------------------------------------------------
# Markers (see VhostFcgi::Sites): PHP builds them from two halves, so only
# a response of code that ran contains them.

sub marker_ran {
    my ($res, $marker) = @_;
    return ($res->{body} // '') =~ /\Q$marker\E/ ? 1 : 0;
}

sub evil_ran { marker_ran(shift, 'EVIL-EXECUTED') }

# ---------------------------------------------------------------------------
# The module's own counters of pool $name, from the status page
# (SetHandler vhostfcgi-status at /vf-status of vhost vf_reuse_fpm), as a
# hash (requests, opened, reused, retried, errors => {...}, ...), or undef.
sub pool_status {
    my $name = shift;
    require JSON::PP;
    my $res = raw_request('vf_reuse_fpm', 'GET', '/vf-status?json');
    return undef unless $res->{status} == 200;
    my $data = eval { JSON::PP::decode_json($res->{body}) } or return undef;
    for my $list (values %$data) {
        next unless ref $list eq 'ARRAY';
        for my $p (@$list) {
            return $p if ref $p eq 'HASH' && ($p->{name} // '') eq $name;
        }
    }
    return undef;
}

# Polls pool $name's figures until $cond holds of them, for up to $secs
# seconds: (whether it held, the last figures seen).
sub pool_status_until {
    my ($name, $cond, $secs) = @_;
    my $until = time + $secs;
    while (1) {
        my $s = pool_status($name);
        return (1, $s) if $s && $cond->($s);
        return (0, $s) if time > $until;
        sleep 0.1;
    }
}

# The gauges of a pool's figures in words, for a test's name.
sub pool_figures {
    my $s = shift or return 'no status';
    return join ' ', map { "$_=" . ($s->{$_} // '?') }
        qw(inflight queued busy waiting open idle requests);
}

# Whether a pool's figures show nothing in flight: no request admitted,
# queued, at the backend or waiting, every open connection idle.
sub pool_idle {
    my $s = shift;
    return $s && $s->{inflight} == 0 && $s->{queued} == 0 && $s->{busy} == 0
        && $s->{waiting} == 0 && $s->{open} == $s->{idle};
}

# "requests=N opened=N reused=N retried=N errors: ..." of two snapshots.
sub status_delta {
    my ($s0, $s1) = @_;
    return 'no status page' unless $s0 && $s1;
    my @k = qw(requests opened reused retried);
    my $s = join ' ', map { "$_=" . (($s1->{$_} // 0) - ($s0->{$_} // 0)) } @k;
    my $ea = $s0->{errors} || {};
    my $eb = $s1->{errors} || {};
    my @e = map { "$_=" . (($eb->{$_} // 0) - ($ea->{$_} // 0)) } sort keys %$eb;
    return "$s; errors: @e";
}

1;
