package config

import (
	"path/filepath"

	"github.com/gatewatch/gatewatch/alert/sinks"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
)

// NormalizerOptions are ingest's normaliser options for cfg, with key
// the HMAC key for API keys and tokens.
func (cfg *Config) NormalizerOptions(key []byte) (ingest.NormalizerOptions, error) {
	proxies, err := cfg.TrustedProxies()
	if err != nil {
		return ingest.NormalizerOptions{}, err
	}
	return ingest.NormalizerOptions{
		HMACKey:         key,
		TrustedProxies:  proxies,
		SensitiveParams: cfg.Ingest.SensitiveParams,
		Identity: ingest.IdentityOptions{
			VerifiedField: cfg.Ingest.Identity.VerifiedField,
			TrustClaims:   cfg.Ingest.Identity.TrustClaims,
		},
	}, nil
}

// DetectOptions are the detectors' options for cfg's detect section.
func (cfg *Config) DetectOptions() detect.Options {
	d := cfg.Detect
	var o detect.Options
	o.Window = d.Window
	o.AllowedLateness = d.AllowedLateness
	o.MinHistory = d.MinHistory
	o.HalfLife = d.HalfLife
	o.PValue = d.PValue
	o.MinRequests = d.MinRequests
	o.MinErrors = d.MinErrors
	o.MinAuthFailures = d.MinAuthFailures
	o.MinRatio = d.MinRatio
	o.ResolveAfter = d.ResolveAfter
	o.IdleAfter = d.IdleAfter
	o.MaxClients = d.MaxClients
	o.Volume.Disabled = !d.Volume.Enabled
	o.ErrorRatio.Disabled = !d.ErrorRatio.Enabled
	o.AuthFailures.Disabled = !d.AuthFailures.Enabled
	o.Scanning = d.Scanning.Tuning()
	o.Enumeration = d.Enumeration.Tuning()
	o.Injection = d.Injection.Tuning()
	o.Exfiltration = d.Exfiltration.Tuning()
	o.CredentialSharing = d.CredentialSharing.Tuning()
	o.FleetVolume = d.FleetVolume.Tuning()
	o.FleetAuth = d.FleetAuthFailures.Tuning()
	o.BruteForce = d.BruteForce.Tuning()
	o.Probes = d.Probes.Tuning()
	o.Routes = d.Routes.Tuning()
	o.LoginRoutes = d.LoginRoutes
	o.CampaignGap = d.CampaignGap
	o.FDR = d.FDR
	if d.FDR == 0 {
		o.FDR = -1 // 0 in the file means off; detect's zero means the default
	}
	o.AllowClients = d.AllowClients
	o.AllowRoutes = d.AllowRoutes
	for _, m := range d.Maintenance {
		o.Maintenance = append(o.Maintenance, detect.TimeRange{Start: m.Start, End: m.End})
	}
	return o
}

// kafkaConfig turns the config file's kafka section into a transport

// Tuning is t as the detectors' options say it.
func (t Tuned) Tuning() detect.Tuning {
	return detect.Tuning{Disabled: !t.Enabled, Floor: t.Floor, MinRatio: t.MinRatio}
}

// AlertStateDir is the alert stage's state directory: the alert
// section's state_dir, or "alert" in the data directory.
func (cfg *Config) AlertStateDir() string {
	if cfg.Alert.StateDir != "" {
		return cfg.Alert.StateDir
	}
	return filepath.Join(cfg.DataDir, "alert")
}

// FalsePositivesFile is the feedback file the detectors follow for false
// positives ("" when detect.false_positives_file is "off").
func (cfg *Config) FalsePositivesFile() string {
	switch f := cfg.Detect.FalsePositivesFile; f {
	case "off":
		return ""
	case "":
		return filepath.Join(cfg.AlertStateDir(), sinks.FeedbackFile)
	default:
		return f
	}
}

// ContractModelFile is where the learnt contract is saved and loaded
// ("" when detect.contract.model_file is "off").
func (cfg *Config) ContractModelFile() string {
	switch f := cfg.Detect.Contract.ModelFile; f {
	case "off":
		return ""
	case "":
		return filepath.Join(cfg.DataDir, ContractModelFile)
	default:
		return f
	}
}

// ContractModelFile is the default name of the saved contract model in
// the data directory.
const ContractModelFile = "contract-model.json"

// InventoryOptions are the endpoint inventory's options for cfg's
// detect.inventory section; nil when it is off.
func (cfg *Config) InventoryOptions() *inventory.Options {
	if !cfg.Detect.Inventory.Enabled {
		return nil
	}
	return &inventory.Options{MaxEndpoints: cfg.Detect.Inventory.MaxEndpoints}
}

// InventoryFile is where the endpoint inventory is saved and loaded ("" when
// detect.inventory.file is "off").
func (cfg *Config) InventoryFile() string {
	switch f := cfg.Detect.Inventory.File; f {
	case "off":
		return ""
	case "":
		return filepath.Join(cfg.DataDir, InventoryFile)
	default:
		return f
	}
}

// InventoryFile is the default name of the saved endpoint inventory in the
// data directory.
const InventoryFile = "endpoints.json"

// ContractOptions are the contract check's options for cfg's
// detect.contract section; nil when it is off.
func (cfg *Config) ContractOptions() *contract.CheckerOptions {
	c := cfg.Detect.Contract
	if !c.Enabled {
		return nil
	}
	return &contract.CheckerOptions{LearnFor: c.LearnFor, MinLearned: c.MinLearned,
		Contract: contract.Options{MinClients: c.MinClients}}
}
