package metrics

import "github.com/prometheus/client_golang/prometheus"

// writeSource sends one calendar source's series.
func writeSource(ch chan<- prometheus.Metric, st Source) {
	l := []string{st.Type, st.Integration}
	with := func(v string) []string { return append([]string{st.Type, st.Integration}, v) }
	ch <- gauge(descReqToday, float64(st.UsedToday), l...)
	ch <- gauge(descBudget, float64(st.Budget), l...)
	ch <- gauge(descProjToday, float64(st.ProjectedToday), l...)
	ch <- gauge(descProj24h, float64(st.Projected24h), l...)
	ch <- gauge(descInterval, st.HotInterval.Seconds(), with("hot")...)
	ch <- gauge(descInterval, st.ColdInterval.Seconds(), with("cold")...)
	for _, status := range withExtra(RoomStatuses, st.Rooms) {
		ch <- gauge(descRooms, float64(st.Rooms[status]), with(status)...)
	}
	ch <- gauge(descHotRooms, float64(st.HotRooms), l...)
	ch <- gauge(descSynced, float64(st.Synced), l...)
	ch <- gauge(descExhausted, bit(st.BudgetExhausted), l...)
	if p := st.Probe; p != nil {
		ch <- gauge(descProbeRooms, float64(p.Rooms), l...)
		ch <- gauge(descProbeLive, float64(p.Live), l...)
		ch <- gauge(descProbeSubj, float64(p.DetailsVisible), l...)
		ch <- counter(descProbeReqs, float64(p.Requests), l...)
		ch <- counter(descProbeChg, float64(p.Changes), l...)
		ch <- counter(descProbeFail, float64(p.Failures), l...)
	}
	n := st.Notifications
	if n == nil {
		return
	}
	ch <- gauge(descNotifRooms, float64(n.Rooms), l...)
	ch <- gauge(descNotifLive, float64(n.Live), l...)
	ch <- counter(descNotifIn, float64(n.Received), with("accepted")...)
	ch <- counter(descNotifIn, float64(n.Ignored), with("ignored")...)
	ch <- counter(descLifecycle, float64(n.Lifecycle), l...)
	ch <- counter(descSubCalls, float64(n.Creates), with("create")...)
	ch <- counter(descSubCalls, float64(n.Renewals), with("renew")...)
	ch <- counter(descSubCalls, float64(n.Deletes), with("delete")...)
	ch <- counter(descSubFailed, float64(n.Failures), l...)
}
