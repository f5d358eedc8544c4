"""Extracellular dopamine and serotonin in the striatum, cleared by their transporters.

One `NeuromodulatorPools` group (a single element) holds the two concentrations that
striatal synapses read by volume transmission::

    d[DA]/dt  = release_da  * (DA spikes)  - U_DAT,DA
    d[5HT]/dt = release_5ht * (5-HT spikes) - U_SERT - U_DAT,5HT

Transport follows Michaelis-Menten kinetics, with 5-HT as a competitive substrate of DAT
(Zhou et al. 2005, Neuron 46:65: DAT's affinity for 5-HT is about 1/15 of that for DA,
so ``km_dat_5ht = 15 km_dat``)::

    U_DAT,DA   = vmax_dat ([DA]/km_dat)    / (1 + [DA]/km_dat + [5HT]/km_dat_5ht)
    U_DAT,5HT  = vmax_dat ([5HT]/km_dat_5ht) / (1 + [DA]/km_dat + [5HT]/km_dat_5ht)
    U_SERT     = (1 - sert_occupancy) vmax_sert [5HT] / (km_sert + [5HT])

The release per spike is set from the population's design rate so that the tonic steady
state equals ``da_tonic`` / ``ht_tonic`` whatever the population size (a population of
N neurons firing at f gives a flux N f q; see `release_for`). The synapses' dopamine
baselines b are ``da_base_d1`` and ``da_base_d2``: ``da_mean``, a robust running mean of
[DA] over ``tau_base`` (it follows the tonic level, and phasic excursions count at most
``base_clip``), but not below ``base_floor_d1`` / ``base_floor_d2`` (0 by default; the
floors do not touch the mean itself). So each receptor class's synapses re-centre on a
lowered tonic level only as far as their receptors can up-regulate
(`adaptation_floor`); below that, a tonic deficit is a lasting negative error: on
balance D1 synapses depress and D2 synapses potentiate, the net direction of plasticity
in Parkinsonian striatum, where Shen, Flajolet, Greengard & Surmeier (2008, Science
321:848) found it unidirectional (eligibility is signed here, so a synapse with a
negative trace moves the other way). D2 receptors up-regulate after DA loss and D1
receptors much less, so the D1 floor sits higher: D1 synapses feel a partial loss
before D2 synapses do.

The running mean m = ``da_mean`` is also the reference of the rectified phasic term
(`dopasim.models.three_factor.ThreeFactorRule.phasic_gains`): the signal splits into a
fast part e = n - m (bursts and dips) and a slow part m - b (a tonic deficit below the
floor).

DA terminals and 5-HT (Zhou et al. 2005). The 5-HT that DAT takes up enters the DA
terminals: the fraction ``term_sequestered`` is loaded into vesicles (``ht_term``, in
units of extracellular concentration) and the rest is degraded by MAO. Vesicles carry
DA and 5-HT together, so the 5-HT share of each DA spike's release is ``phi = ht_term /
(ht_term + term_half)``; a DA spike releases ``q (1 - phi)`` DA and ``q phi`` 5-HT
(co-release), and ``da_released`` counts the DA actually released. At steady state the
5-HT released by DA terminals equals what they sequester, so ``phi`` is the ratio of
the sequestered 5-HT flux to the total DA-terminal release flux: the dilution of the
DA signal is bounded by DAT's 5-HT uptake, whatever ``term_half`` is (that value only
sets the stock). ``term_sequestered`` and ``term_half`` are hypotheses: no measured
values were found: the direction and a monotonic dose-response are what the model
claims; the size is a model prediction.

What the striatal synapses read is ``da_seen = n + dip_block [m - n]+`` with n = da +
drug_tonic: the endogenous DA plus a medication's tonic level, with the fraction
``dip_block`` of every dip below the running mean removed (both 0 in the intact
circuit; then da_seen = n exactly). The baseline follows the medicated tonic level:
a steady drug level is not a prediction error, so medication acts through the blocked
dips and through tonic DA's effect on MSN excitability, not through a permanent
positive error (which would drive every active synapse to its bound). The blocked
fraction is defined on the dip itself, not as a floor under it, so "0.8" means the same
thing at every tonic level.

The floor also reaches D2 MSNs' excitability where it reads ``da_seen_d2`` (the
excitability term of `dopasim.circuits.reward_circuit`), because the D2 read-out is
linearised at b: a floored b deepens it a little (at 90 % loss in the selection task,
about 0.05-0.09 mV of extra D2 drive; at total loss the term is already at its clip).

D2 receptors have a high affinity for DA (EC50 of order 10 nM, near the tonic level) and
D1 receptors a low one (of order 1 uM; Richfield, Penney & Young 1989, Neuroscience
30:767 [2nd]), so D2 receptors sense dips and saturate in bursts (Dreyer, Herrik & Berg
2010, J Neurosci 30:14273 [2nd]). ``da_seen_d2`` is what D2 synapses read when
``d2_ec50 > 0``: D2 occupancy g(c) = c/(c + K), mapped back to a concentration by
linearising at the baseline b, ``b + (g(da_seen) - g(b))/g'(b) = b + (da_seen - b)(b +
K)/(da_seen + K)``. It equals da_seen near b, compresses bursts (at most b + K above b)
and deepens dips. With ``d2_ec50 = 0`` (the default) D2 synapses read da_seen itself.

``ltd_gate`` is the 5-HT gate of the depression side of the striatal rule
(He et al. 2015, Neuron 88:528: 5-HT2C converts the LTD eligibility trace): the LTD
amplitude is multiplied by ``clip(1 + ht_ltd_gain ([5HT]/ht_base - 1), 0, ht_ltd_max)``,
1 at the running-mean level ``ht_base`` (phasic 5-HT, e.g. after punishment, gates LTD). Here the gate acts when the pairing happens, not on a separate LTD
trace; that simplification is stated in the circuit docs.
"""

from dataclasses import dataclass, field, replace

import numpy as np
from brian2 import NeuronGroup, Quantity, nmolar, second, umolar

from dopasim.models.timing import timing
from dopasim.params import Param, check_fields, fraction

__all__ = ["NeuromodulatorPools", "adaptation_floor", "release_for"]


def adaptation_floor(tonic, ec50, upregulation):
    """Lowest tonic [DA] that receptor up-regulation can re-centre the synapses on.

    Used for both receptor classes (D2: ``ec50`` 10 nM, D1: 1 uM), each with its own
    up-regulation factor.

    With occupancy g(c) = c/(c + ec50) and ``upregulation`` times the receptors (same
    affinity: Creese, Burt & Snyder 1977, Science 197:596), the signal r g(c) equals the
    intact g(tonic) down to c = ec50 g / (r - g), g = g(tonic). Below it no adaptation
    restores the intact signal. Wade, Rothblat & Schneider (2000, Brain Res 871:281)
    measured D2 receptor number 60-75 % above normal in symptomatic MPTP-treated cats
    [paper abstract]: r = 1.6 (the lower end) gives 7.1 nM at tonic 20 nM, ec50 10 nM.
    """
    if not float(tonic) > 0 or not float(ec50) > 0:
        raise ValueError(f"adaptation_floor: tonic and ec50 must be > 0, got {tonic}, {ec50}")
    if not upregulation >= 1:
        raise ValueError(f"adaptation_floor: upregulation must be >= 1, got {upregulation}")
    g = tonic / (tonic + ec50)
    return ec50 * g / (upregulation - g)


def release_for(tonic, rate, n_neurons, vmax, km):
    """Release per spike that makes ``n_neurons`` firing at ``rate`` hold ``tonic``.

    At steady state the release flux equals Michaelis-Menten uptake:
    ``n_neurons * rate * q = vmax * tonic / (km + tonic)``.
    """
    if n_neurons <= 0:
        return 0 * umolar
    return vmax * tonic / (km + tonic) / (n_neurons * rate)


def _sign(name, low_open):
    """A value (a quantity in any unit, or a number) that must be > 0 or >= 0."""
    return Param(name, None, "float", "", low=0, low_open=low_open)


#: The declared ranges of `NeuromodulatorPools` (checked by its ``validate``).
POOL_CHECKS = (
    *(_sign(k, True) for k in ("vmax_dat", "km_dat", "vmax_sert", "km_sert", "da_tonic")),
    *(_sign(k, True) for k in ("ht_tonic", "dat_5ht_affinity", "term_half", "tau_base")),
    _sign("base_clip", True),
    *(_sign(k, False) for k in ("ht_ltd_gain", "ht_ltd_max", "base_floor_d1", "base_floor_d2")),
    *(_sign(k, False) for k in ("d2_ec50", "drug_tonic")),
    *(fraction(k) for k in ("sert_occupancy", "term_sequestered", "dip_block")),
)


@dataclass(frozen=True)
class NeuromodulatorPools:
    """Parameters of the striatal DA and 5-HT pools.

    Parameters
    ----------
    vmax_dat, km_dat : Quantity
        DAT maximal uptake rate and Michaelis constant for DA (rat dorsal striatum).
    dat_5ht_affinity : float
        DAT affinity for 5-HT relative to DA (Zhou et al. 2005: 1/15).
    vmax_sert, km_sert : Quantity
        SERT maximal uptake rate and Michaelis constant.
    sert_occupancy : float
        Fraction of SERT blocked (0 in the intact circuit; an SSRI raises it).
    da_tonic, ht_tonic : Quantity
        Design tonic concentrations (they set the release per spike and the baselines).
    ht_ltd_gain, ht_ltd_max : float
        Gain and ceiling of the 5-HT gate on LTD (1 at the tonic 5-HT level).
    tau_base, base_clip : Quantity
        The synapses' DA baseline: its time constant, the most one sample counts away
        from it.
    base_floor_d1, base_floor_d2 : Quantity
        The lowest level the D1 and the D2 synapses' baselines adapt to (0: any).
    drug_tonic, dip_block : Quantity, float
        Medication: extra tonic DA at the synapses; fraction of each dip removed.
    """

    # dorsal striatum: 4.0 uM/s (Dreyer et al. 2010, J Neurosci 30:14273, and the authors' code) [2nd]
    vmax_dat: Quantity = field(default_factory=lambda: 4.0 * umolar / second)
    # 'near 0.2 uM' in rat striatum in vivo (Michael et al. 2005, J Neurochem 94:1202) [paper]
    km_dat: Quantity = field(default_factory=lambda: 0.2 * umolar)
    # Zhou et al. 2005, Neuron 46:65, citing Giros 1991, Pristupa 1994, Eshleman 1999
    dat_5ht_affinity: float = 1 / 15
    # Bunin & Wightman 1998 (J Neurosci 18:4854) as used in published 5-HT models: about
    # 0.4-0.5 uM/s [2nd; not checked in the paper]
    vmax_sert: Quantity = field(default_factory=lambda: 0.5 * umolar / second)
    # Bunin & Wightman 1998 via published 5-HT models [2nd]
    km_sert: Quantity = field(default_factory=lambda: 0.17 * umolar)
    sert_occupancy: float = 0.0
    # tonic striatal DA: 10-50 nM in volume-transmission models (Dreyer et al. 2010) [2nd];
    # microdialysis gives 0.3-15 nM (Seamans & Durstewitz 2008, review) [2nd]
    da_tonic: Quantity = field(default_factory=lambda: 20 * nmolar)
    # basal striatal 5-HT: a few nM by microdialysis; no primary value verified here, so
    # only ratios of [5-HT] are reported as results
    ht_tonic: Quantity = field(default_factory=lambda: 5 * nmolar)
    # The synapses' dopamine baseline b is the running mean of [DA] over tau_base: the
    # modulating signal of reward-modulated STDP must have zero mean, or the weights
    # drift with any tonic mismatch (Fremaux, Sprekeler & Gerstner 2010, J Neurosci
    # 30:13326). tau_base spans many trials.
    tau_base: Quantity = field(default_factory=lambda: 20 * second)
    # The baseline follows the tonic level only: each sample counts at most base_clip
    # away from the current baseline, so phasic bursts and pauses (the prediction
    # errors themselves) barely move it (a Huber-type running mean).
    base_clip: Quantity = field(default_factory=lambda: 5 * nmolar)
    # The same for the running means of the rectified phasic terms (`build`'s
    # ``rectify``); None: base_clip. The rectified signal's fluctuations are skewed
    # (dips weighted by g_dip > 1), so a clip much narrower than their spread leaves its
    # running mean away from its mean, and the signal the synapses read keeps a tonic
    # offset: with an eligibility that is never negative (a presynaptic tag) that
    # offset is a steady drift of every active synapse.
    rect_clip: Quantity | None = None
    # The lowest level each receptor class's baseline can adapt to (0: it follows any
    # tonic level). Below it a tonic deficit is a lasting negative error (D1 depression,
    # D2 potentiation on balance), as in models of Parkinson's disease (Shen et al.
    # 2008). See `adaptation_floor`. D1 and D2 synapses have their own: D2 receptors
    # up-regulate after DA loss, D1 receptors much less.
    base_floor_d1: Quantity = field(default_factory=lambda: 0 * nmolar)
    base_floor_d2: Quantity = field(default_factory=lambda: 0 * nmolar)
    ht_ltd_gain: float = 1.0
    ht_ltd_max: float = 3.0
    # 5-HT in DA terminals [hyp]: VMAT2 and MAO compete for the 5-HT that DAT brings
    # in; an even split is assumed. term_half scales the vesicular stock only.
    term_sequestered: float = 0.5
    term_half: Quantity = field(default_factory=lambda: 100 * nmolar)
    # medication (scenario 'medicated'): extra tonic DA at the synapses, and the fraction
    # of every dip below the running mean that it removes
    drug_tonic: Quantity = field(default_factory=lambda: 0 * nmolar)
    dip_block: float = 0.0
    #: EC50 of the D2 receptors' occupancy (0: D2 synapses read [DA] linearly, as D1).
    d2_ec50: Quantity = field(default_factory=lambda: 0 * nmolar)

    def with_(self, **changes):
        return replace(self, **changes)

    @property
    def km_dat_5ht(self):
        return self.km_dat / self.dat_5ht_affinity

    def validate(self):
        check_fields(self, POOL_CHECKS, "pools: ")
        if self.rect_clip is not None:
            _sign("rect_clip", True).check(self.rect_clip, "pools: rect_clip")

    @property
    def rect_clip_value(self):
        """The clip of the rectified terms' running means (base_clip unless set)."""
        return self.base_clip if self.rect_clip is None else self.rect_clip

    def sert_uptake_at_tonic(self):
        """SERT uptake of 5-HT at the tonic levels, without any SSRI."""
        return self.vmax_sert * self.ht_tonic / (self.km_sert + self.ht_tonic)

    def dat_ht_uptake_at_tonic(self, ht=None):
        """DAT's uptake of 5-HT (into DA terminals) at tonic DA and ``ht`` (default tonic)."""
        ht = self.ht_tonic if ht is None else ht
        occupancy = self.da_tonic / self.km_dat + ht / self.km_dat_5ht
        return self.vmax_dat * (ht / self.km_dat_5ht) / (1 + occupancy)

    def ht_steady(self):
        """Steady extracellular [5-HT] under this SERT occupancy, at the design release.

        Net clearance (SERT with the occupancy, plus DAT's degraded share) equals the
        release flux that holds ``ht_tonic`` without any SSRI; solved by bisection. The
        pools start here: a scenario describes a chronic state, not a drug's first minute.
        """
        target = float(self.ht_clearance_at_tonic() / (umolar / second))

        def clearance(ht_um):
            ht = ht_um * umolar
            sert = (1 - self.sert_occupancy) * self.vmax_sert * ht / (self.km_sert + ht)
            dat = (1 - self.term_sequestered) * self.dat_ht_uptake_at_tonic(ht)
            return float((sert + dat) / (umolar / second))

        lo, hi = 0.0, float(self.ht_tonic / umolar)
        while clearance(hi) < target:
            hi *= 2
            if hi > 1e6:  # nothing clears 5-HT (full block, no degradation)
                return hi * umolar
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if clearance(mid) < target else (lo, mid)
        return 0.5 * (lo + hi) * umolar

    def da_steady(self, flux_fraction=1.0):
        """Steady [DA] when DA terminals release ``flux_fraction`` of the design flux.

        The design flux is DAT's uptake at ``da_tonic`` (5-HT's share of DAT ignored, as
        in `release_for`); uptake and release balance at km F / (vmax - F). A
        Parkinsonian lesion with partial compensation gives a fraction below 1 (or a
        little above, when the lesion's size is rounded to whole neurons).

        An estimate from the design rate: the running baseline absorbs what it misses
        within tau_base (the survivors' actual rate differs slightly: at loss 0.75 [DA]
        settles near 12.9 nM against 12.05 nM here), and so does 5-HT co-release under
        an SSRI (about 2.5 % of the release at occupancy 0.8). DAT is kept at full
        strength after a lesion (the terminals' transporters are not removed with the
        neurons), a simplification: with DAT scaled by the surviving fraction, the
        steady state would be far higher.
        """
        flux = flux_fraction * self.vmax_dat * self.da_tonic / (self.km_dat + self.da_tonic)
        if not 0 <= float(flux) < float(self.vmax_dat):
            raise ValueError(
                f"pools: flux_fraction {flux_fraction} gives a DA release of {flux}; allowed: "
                f">= 0 and below DAT's vmax ({self.vmax_dat}), else no steady state exists"
            )
        return self.km_dat * flux / (self.vmax_dat - flux)

    def ht_clearance_at_tonic(self):
        """Net 5-HT clearance at the tonic levels, without any SSRI.

        SERT, plus the part of DAT's uptake that MAO degrades (the sequestered part is
        released again by DA terminals). The 5-HT release per spike is set from this.
        """
        return (
            self.sert_uptake_at_tonic()
            + (1 - self.term_sequestered) * self.dat_ht_uptake_at_tonic()
        )

    def ht_term_at_tonic(self, da_release_flux):
        """Steady vesicular 5-HT stock when DA terminals release ``da_release_flux``."""
        if float(da_release_flux) <= 0:
            return 0 * umolar  # no DA terminal releases (no DA neuron): the stock starts empty
        inflow = self.term_sequestered * self.dat_ht_uptake_at_tonic(self.ht_steady())
        phi = float(inflow / da_release_flux)
        if phi >= 1:
            raise ValueError(
                f"pools: DAT's 5-HT uptake ({inflow}) exceeds the DA release flux "
                f"({da_release_flux}); no steady vesicular 5-HT stock exists"
            )
        return self.term_half * phi / (1 - phi)

    def build(
        self,
        name="pools",
        dt=None,
        da_release_flux=None,
        da_flux_fraction=1.0,
        rectify=None,
        n=1,
        clock=None,
    ):
        """The pools' group; variables ``da``, ``ht`` (concentrations), ``ltd_gate``...

        ``n`` compartments (default one): identical pools, each its own element, that
        the circuit fills from different DA neurons (a distributional critic's channels,
        `dopasim.circuits.reward_circuit`). ``da_release_flux`` is one compartment's.

        [DA], its running mean and what the synapses read start at the steady state of
        ``da_flux_fraction`` of the design release (`da_steady`; 1: ``da_tonic``), plus
        the medication's tonic level where it applies; the baselines are that mean, not
        below ``base_floor_d1`` / ``base_floor_d2``.

        The scenario-dependent values (``sert_occupancy``, ``drug_tonic``, ``dip_block``)
        are variables of the group, not constants of the code, so that one compiled
        build serves every scenario.

        ``rectify`` (``{"d1": (g_burst, g_dip), "d2": (...)}``, the rules'
        `phasic_gains`, each a number or one per compartment) adds, for each class, the
        rectified fast part its synapses integrate, ``rect_<c> = g_burst [e]+ - g_dip
        [-e]+`` with e = what the class reads minus ``da_mean``, and its robust running
        mean ``rect_<c>_mean`` (same ``tau_base`` and ``base_clip`` as the baseline).
        Rectifying a fluctuating signal
        gives it a positive mean (tonic [DA] fluctuates with an SD of about 4 nM here, and
        0.8 E[e]+ is about 1.1 nM: per trial more than a reward's burst), so without it
        every eligible synapse of both pathways would drift to its upper bound. The
        synapses subtract the running mean (`SampledPool.rect_mean`): the modulating
        signal keeps zero mean in the absence of phasic events, the condition of
        reward-modulated STDP (Fremaux, Sprekeler & Gerstner 2010, J Neurosci 30:13326)
        that the baseline already meets for the linear signal [hypothesis: an adaptation
        of the receptors' signalling to the ongoing fluctuation].
        """
        self.validate()
        group = NeuronGroup(
            n,
            """
            u_dat_ht = vmax_dat*(ht/km_dat_5ht)/(1 + da/km_dat + ht/km_dat_5ht) : mmolar/second  # DAT uptake of 5-HT
            dda/dt = -vmax_dat*(da/km_dat)/(1 + da/km_dat + ht/km_dat_5ht) : mmolar
            dht/dt = -(1 - sert_occupancy)*vmax_sert*ht/(km_sert + ht) - u_dat_ht : mmolar
            dht_term/dt = term_sequestered*u_dat_ht : mmolar  # 5-HT in DA vesicles (released by DA spikes)
            phi = ht_term/(ht_term + term_half) : 1  # 5-HT share of a DA spike's release
            dda_mean/dt = (clip(da + drug_tonic, da_mean - base_clip, da_mean + base_clip) - da_mean)/tau_base : mmolar  # robust running mean of the tonic [DA] (drug included)
            da_base_d1 = clip(da_mean, base_floor_d1, inf*mmolar) : mmolar  # D1 synapses' baseline b: the running mean, not below their floor
            da_base_d2 = clip(da_mean, base_floor_d2, inf*mmolar) : mmolar  # D2 synapses' baseline b
            dht_base/dt = (ht - ht_base)/tau_base : mmolar  # running mean of [5-HT]
            ltd_gate : 1      # 5-HT gate of LTD, updated each step
            da_seen : mmolar  # what the synapses read (medication, blocked dips)
            da_seen_d2 : mmolar  # what D2 synapses read (their occupancy; = da_seen if d2_ec50 = 0)
            da_released : mmolar  # cumulative DA actually released
            sert_occupancy : 1 (constant)
            drug_tonic : mmolar (constant)
            dip_block : 1 (constant)
            base_floor_d1 : mmolar (constant)
            base_floor_d2 : mmolar (constant)
            """
            + (
                """
            rect_d1 : mmolar  # D1's rectified fast part g_b [e]+ - g_d [-e]+ (updated each step)
            rect_d2 : mmolar  # D2's
            drect_d1_mean/dt = (clip(rect_d1, rect_d1_mean - rect_clip, rect_d1_mean + rect_clip) - rect_d1_mean)/tau_base : mmolar
            drect_d2_mean/dt = (clip(rect_d2, rect_d2_mean - rect_clip, rect_d2_mean + rect_clip) - rect_d2_mean)/tau_base : mmolar
            gb_d1 : 1 (constant)
            gd_d1 : 1 (constant)
            gb_d2 : 1 (constant)
            gd_d2 : 1 (constant)
            """
                if rectify
                else ""
            ),
            method="euler",
            namespace={
                "vmax_dat": self.vmax_dat,
                "km_dat": self.km_dat,
                "km_dat_5ht": self.km_dat_5ht,
                "vmax_sert": self.vmax_sert,
                "km_sert": self.km_sert,
                "term_sequestered": self.term_sequestered,
                "term_half": self.term_half,
                "ht_tonic": self.ht_tonic,
                "ht_ltd_gain": self.ht_ltd_gain,
                "ht_ltd_max": self.ht_ltd_max,
                "tau_base": self.tau_base,
                "base_clip": self.base_clip,
                "rect_clip": self.rect_clip_value,
                "d2_ec50": self.d2_ec50,
            },
            name=name,
            **timing(dt, clock),
        )
        da0 = self.da_tonic if da_flux_fraction == 1 else self.da_steady(da_flux_fraction)
        group.da = da0
        group.da_mean = da0 + self.drug_tonic
        ht0 = self.ht_steady()
        group.ht_base = ht0
        group.ht = ht0
        group.ltd_gate = 1
        flux = 0 * umolar / second if da_release_flux is None else da_release_flux
        group.ht_term = self.ht_term_at_tonic(flux)
        # what the synapses read in the first step (then updated each step): the
        # starting level, so the first step is no error unless the floor is above it
        group.da_seen = da0 + self.drug_tonic
        group.da_seen_d2 = da0 + self.drug_tonic
        group.da_released = 0 * umolar
        # arrays, not scalars: the values live in data files, not in the compiled code
        group.sert_occupancy = [self.sert_occupancy] * n
        group.drug_tonic = np.array([float(self.drug_tonic / umolar)] * n) * umolar
        group.dip_block = [self.dip_block] * n
        group.base_floor_d1 = np.array([float(self.base_floor_d1 / umolar)] * n) * umolar
        group.base_floor_d2 = np.array([float(self.base_floor_d2 / umolar)] * n) * umolar
        rect_code = ""
        if rectify:
            for c, view in (("d1", "da_seen"), ("d2", "da_seen_d2")):
                # each gain a number, or one per compartment (a distributional critic's)
                gb, gd = rectify[c]
                setattr(group, f"gb_{c}", gb)
                setattr(group, f"gd_{c}", gd)
                e = f"({view} - da_mean)"
                rect_code += (
                    f"\nrect_{c} = gb_{c}*0.5*({e} + abs({e})) + gd_{c}*0.5*({e} - abs({e}))"
                )
            # the means start at the rectified fluctuation's mean: 0 (they settle in
            # about tau_base)
        group.run_regularly(
            # n + dip_block*[m - n]+, n = da + drug_tonic: the drug removes the fraction
            # dip_block of every dip below the running mean m (0: da_seen = n exactly)
            "da_seen = da + drug_tonic + dip_block*0.5*(da_mean - da - drug_tonic + abs(da_mean - da - drug_tonic))\n"
            + (
                "da_seen_d2 = da_base_d2 + (da_seen - da_base_d2)*(da_base_d2 + d2_ec50)/(da_seen + d2_ec50)"
                if float(self.d2_ec50) > 0
                else "da_seen_d2 = da_seen"
            )
            + rect_code,
            when="after_synapses",
            name=f"{name}_seen",
        )
        group.run_regularly(
            "ltd_gate = clip(1 + ht_ltd_gain*(ht/ht_base - 1), 0, ht_ltd_max)",
            when="before_synapses",
            name=f"{name}_gate",
        )
        return group
