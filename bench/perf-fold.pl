#!/usr/bin/perl
# bench/perf-fold.pl FREQ REQUESTS < `perf script -F comm,tid,ip,sym,dso`
#
# Where a front end's CPU time goes, per request: every cpu-clock sample
# (1/FREQ s of CPU) is charged to the system call it was taken in (the
# frame do_syscall_64 called, or the libc wrapper when the sample fell in
# the entry or exit work), to another kind of kernel work,
# or to the user-space library and function it was taken in.  Prints two
# Markdown tables: by category and by user-space function.
use strict;
use warnings;

my ($freq, $requests) = @ARGV;
die "usage: perf-fold.pl FREQ REQUESTS\n" unless $freq && $requests;

my (%cat, %usym, $total, @frames);

sub short_dso {
    my $d = shift;
    $d =~ s{.*/}{};
    $d =~ s/\.so[.\d]*$/.so/;
    return $d;
}

# The system call a libc function makes.
sub libc_call {
    local $_ = shift;
    return 'futex' if /futex|lll_lock|pthread_cond|pthread_mutex/;
    return 'epoll_wait' if /epoll_wait/;
    return 'epoll_ctl' if /epoll_ctl/;
    return 'poll' if /poll/;
    return 'fcntl' if /fcntl/;
    return 'writev' if /writev/;
    return 'munmap' if /munmap/;
    return 'mmap' if /mmap/;
    return 'recvfrom' if /recv/;
    return 'sendto' if /send/;
    return 'read' if /read/;
    return 'write' if /write/;
    return 'newfstatat' if /stat/;
    return 'accept4' if /accept/;
    for my $c (qw(connect socket close shutdown setsockopt getsockopt)) {
        return $c if /$c/;
    }
    return "? ($_)";
}

sub flush_sample {
    return unless @frames;
    $total++;
    my ($ip, $sym, $dso) = @{ $frames[0] };
    if ($dso =~ /kernel/) {
        my $what;
        my ($i) = grep { $frames[$_][1] eq 'do_syscall_64' } 0 .. $#frames;
        if (defined $i) {
            # The frame do_syscall_64 called is the system call; when it is
            # entry or exit work instead (the return to user, scheduling),
            # the libc wrapper above names the call.
            my $callee = $i > 0 ? $frames[$i - 1][1] : '';
            if ($callee =~ /^(?:__x64_sys_|__ia32_sys_|__se_sys_|__do_sys_|ksys_|__sys_|do_)(\w+)/
                && $callee !~ /exit_to_user|syscall_exit|irq/) {
                $what = "syscall $1";
            }
            else {
                my ($u) = grep { $_->[2] !~ /kernel/ } @frames[$i + 1 .. $#frames];
                $what = 'syscall ' . libc_call($u ? $u->[1] : '?');
            }
        }
        if (!$what) {
            my $all = join ' ', map { $_->[1] } @frames;
            $what = $all =~ /page_fault/ ? 'kernel: page faults'
                  : $all =~ /sysvec|irq_exit|do_softirq|__irq|net_rx/ ? 'kernel: interrupts'
                  : $all =~ /exit_to_user_mode|schedule/ ? 'kernel: scheduling'
                  : 'kernel: other';
        }
        $cat{$what}++;
    }
    else {
        my $d = short_dso($dso);
        $cat{"user: $d"}++;
        $sym = sprintf('0x%s', $ip) if $sym eq '[unknown]';
        $usym{"$d $sym"}++;
    }
    @frames = ();
}

while (my $line = <STDIN>) {
    chomp $line;
    if ($line =~ /^\s*$/) { flush_sample(); next }
    if ($line =~ /^\s+([0-9a-f]+)\s+(.*?)\s+\(([^)]*)\)\s*$/) {
        push @frames, [$1, $2, $3];
    }
}
flush_sample();
exit 0 unless $total;

my $us = sub { sprintf('%.1f', $_[0] / $freq / $requests * 1e6) };
my ($k, $u) = (0, 0);
for (keys %cat) { if (/^user:/) { $u += $cat{$_} } else { $k += $cat{$_} } }
printf "CPU samples: %d (%.1f us of front-end CPU per request: kernel %s, user %s)\n\n",
    $total, $total / $freq / $requests * 1e6, $us->($k), $us->($u);
print "| where | share | us/request |\n| --- | ---: | ---: |\n";
my $shown = 0;
for (sort { $cat{$b} <=> $cat{$a} } keys %cat) {
    last if ++$shown > 25 || $cat{$_} / $total < 0.003;
    printf "| %s | %.1f%% | %s |\n", $_, 100 * $cat{$_} / $total, $us->($cat{$_});
}
print "\nUser-space functions (symbols of stripped libraries show as offsets):\n\n";
print "| function | share | us/request |\n| --- | ---: | ---: |\n";
$shown = 0;
for (sort { $usym{$b} <=> $usym{$a} } keys %usym) {
    last if ++$shown > 25;
    printf "| %s | %.1f%% | %s |\n", $_, 100 * $usym{$_} / $total, $us->($usym{$_});
}
